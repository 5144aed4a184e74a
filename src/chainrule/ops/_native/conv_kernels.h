/* The convolution kernels for one element type, included once per type by conv.c with
 * T (the element type), VL (elements per 64-byte vector) and NAME(f) (f with the type's suffix).
 *
 * Every kernel is one loop nest over a register tile: NV vectors of VL output channels (or input
 * channels) by up to 12 pixels (or weight rows) of accumulators, kept in registers while a whole
 * reduction runs through them, each step one broadcast element times one vector of weights (or
 * gradients). The reduction index j runs over the rows of the flattened kernel, (c, kh, kw)
 * row-major, and reaches its input element at the constant offset off[j] =
 * c Hp Wp + kh dh Wp + kw dw from a window's corner in the padded (C, Hp, Wp) plane stack.
 */

typedef T NAME(vec) __attribute__((vector_size(VL * sizeof(T)), aligned(sizeof(T))));
#define V NAME(vec)

/* y[n, o0 + v VL + l, ho, w0 + i] = sum_j w[j, o0 + v VL + l] x[n][base(ho, w0 + i) + off[j]]
 * for i < pb, PB pixels computed (the last PB - pb repeat pixel pb - 1 and are dropped). */
static inline __attribute__((always_inline)) void NAME(fwd_tile)(
    const T *restrict xb, ptrdiff_t sw, const T *restrict w, ptrdiff_t ldw,
    const ptrdiff_t *restrict off, ptrdiff_t J, T *restrict yb, ptrdiff_t ldy, ptrdiff_t nout,
    int pb, const int NV, const int PB)
{
    V acc[2][12];
    ptrdiff_t col[12];
#pragma GCC unroll 12
    for (int i = 0; i < PB; i++) {
        col[i] = (i < pb ? i : pb - 1) * sw;
        acc[0][i] = (V){0};
        acc[1][i] = (V){0};
    }
    for (ptrdiff_t j = 0; j < J; j++) {
        const T *xj = xb + off[j];
        V w0 = *(const V *)(w + j * ldw);
        V w1 = NV > 1 ? *(const V *)(w + j * ldw + VL) : (V){0};
#pragma GCC unroll 12
        for (int i = 0; i < PB; i++) {
            T xv = xj[col[i]];
            acc[0][i] += xv * w0;
            if (NV > 1) acc[1][i] += xv * w1;
        }
    }
    /* channel by channel: the channels' rows may lie a multiple of 4 KiB apart (32x32 planes
     * of float32), where stores interleaved across channels evict each other from the cache */
    for (int v = 0; v < NV; v++)
        for (int l = 0; l < VL && v * VL + l < nout; l++)
            for (int i = 0; i < pb; i++)
                yb[(v * VL + l) * ldy + i] = acc[v][i][l];
}

/* Example n's (C, Hp, Wp) zero-padded planes: in x itself where pad is NULL (x comes padded),
 * else its (C, H, W) planes copied into the interior of pad, whose zero border stays between
 * calls: the padded copy of one example is made in the cache just before its tiles read it.
 * p[1..3]: C, Hp, Wp; p[11..14]: H, W and the padding before, ph, pw. */
static const T *NAME(example)(const T *x, ptrdiff_t n, T *pad, const int64_t *p)
{
    const ptrdiff_t C = p[1], Hp = p[2], Wp = p[3], H = p[11], W = p[12], ph = p[13], pw = p[14];
    if (!pad) return x + n * C * Hp * Wp;
    const T *src = x + n * C * H * W;
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t h = 0; h < H; h++)
            memcpy(pad + (c * Hp + ph + h) * Wp + pw, src + (c * H + h) * W, W * sizeof(T));
    return pad;
}

/* p: N, C, Hp, Wp, O, Op, J, Ho, Wo, sh, sw, H, W, ph, pw (off: J offsets). x (N, C, H, W)
 * (padded by NAME(example) into pad, or already padded), w (J, Op) the kernel's rows (Op a
 * multiple of VL, zero past O), y (N, O, Ho, Wo). */
DISPATCH void NAME(conv_fwd)(const T *x, const T *w, const ptrdiff_t *off, T *y, T *pad,
                             const int64_t *p)
{
    const ptrdiff_t N = p[0], Wp = p[3], O = p[4], Op = p[5], J = p[6];
    const ptrdiff_t Ho = p[7], Wo = p[8], sh = p[9], sw = p[10];
    const int PB = tile_width(Wo);
    /* Where the channels' planes in y lie a multiple of 4 KiB apart (32x32 float32), the
     * tiles' short stores, channel after channel, evict each other from the cache (the same
     * cache set): a row of up to ROW_BUFFER outputs per channel is gathered here first, then
     * copied out whole (32 -> 16 channels at 32x32: 75 -> 95 GFLOP/s; elsewhere no faster). */
    T row[2 * VL * ROW_BUFFER];
    const int buffered = Wo <= ROW_BUFFER && (Ho * Wo * (ptrdiff_t)sizeof(T)) % 4096 == 0;
    for (ptrdiff_t n = 0; n < N; n++) {
        const T *xn = NAME(example)(x, n, pad, p);
        for (ptrdiff_t o0 = 0; o0 < O; o0 += 2 * VL) {
            const int NV = O - o0 > VL ? 2 : 1;
            const ptrdiff_t nout = O - o0 < NV * VL ? O - o0 : NV * VL;
            for (ptrdiff_t ho = 0; ho < Ho; ho++) {
                T *yrow = y + (n * O + o0) * Ho * Wo + ho * Wo;
                for (ptrdiff_t w0 = 0; w0 < Wo; w0 += PB) {
                    const int pb = Wo - w0 < PB ? (int)(Wo - w0) : PB;
                    const T *xb = xn + ho * sh * Wp + w0 * sw;
                    T *yb = buffered ? row + w0 : yrow + w0;
                    const ptrdiff_t ldy = buffered ? Wo : Ho * Wo;
                    const T *wb = w + o0;
#define FWD(nv, pbk) NAME(fwd_tile)(xb, sw, wb, Op, off, J, yb, ldy, nout, pb, nv, pbk)
                    if (NV == 2) {
                        switch (PB) {
                        case 4: FWD(2, 4); break;
                        case 6: FWD(2, 6); break;
                        case 7: FWD(2, 7); break;
                        case 8: FWD(2, 8); break;
                        case 10: FWD(2, 10); break;
                        default: FWD(2, 12); break;
                        }
                    } else {
                        switch (PB) {
                        case 4: FWD(1, 4); break;
                        case 6: FWD(1, 6); break;
                        case 7: FWD(1, 7); break;
                        case 8: FWD(1, 8); break;
                        case 10: FWD(1, 10); break;
                        default: FWD(1, 12); break;
                        }
                    }
#undef FWD
                }
                if (buffered)
                    for (ptrdiff_t k = 0; k < nout; k++)
                        for (ptrdiff_t q = 0; q < Wo; q++) yrow[k * Ho * Wo + q] = row[k * Wo + q];
            }
        }
    }
}

/* dw[j0 + r, o0 + v VL + l] += sum over the image's positions q of
 * x[n][base(q) + off[j0 + r]] g[n, q, o0 + v VL + l], for r < jb (JB rows computed). */
static inline __attribute__((always_inline)) void NAME(dw_tile)(
    const T *restrict xn, const ptrdiff_t *restrict off, const T *restrict gn, ptrdiff_t ldg,
    ptrdiff_t Ho, ptrdiff_t Wo, ptrdiff_t rowstep, ptrdiff_t sw, T *restrict dw, ptrdiff_t lddw,
    int jb, const int NV, const int JB)
{
    V acc[2][12];
    ptrdiff_t o[12];
#pragma GCC unroll 12
    for (int r = 0; r < JB; r++) {
        o[r] = off[r < jb ? r : jb - 1];
        acc[0][r] = (V){0};
        acc[1][r] = (V){0};
    }
    for (ptrdiff_t ho = 0; ho < Ho; ho++) {
        const T *xr = xn + ho * rowstep;
        const T *gr = gn + ho * Wo * ldg;
        for (ptrdiff_t wo = 0; wo < Wo; wo++) {
            const T *xq = xr + wo * sw;
            V g0 = *(const V *)(gr + wo * ldg);
            V g1 = NV > 1 ? *(const V *)(gr + wo * ldg + VL) : (V){0};
#pragma GCC unroll 12
            for (int r = 0; r < JB; r++) {
                T xv = xq[o[r]];
                acc[0][r] += xv * g0;
                if (NV > 1) acc[1][r] += xv * g1;
            }
        }
    }
    for (int r = 0; r < jb; r++) {
        *(V *)(dw + r * lddw) += acc[0][r];
        if (NV > 1) *(V *)(dw + r * lddw + VL) += acc[1][r];
    }
}

/* buf[q, o] = g[o, q] for one example's gradient (O, L) -> (L, Op): blocks of 64 positions, whose
 * 64 rows of buf stay in the cache while every channel is written into them. */
static void NAME(channels_last)(const T *restrict g, T *restrict buf, ptrdiff_t O, ptrdiff_t L,
                                ptrdiff_t Op)
{
    for (ptrdiff_t q0 = 0; q0 < L; q0 += 64) {
        const ptrdiff_t q1 = L - q0 < 64 ? L : q0 + 64;
        for (ptrdiff_t o = 0; o < O; o++)
            for (ptrdiff_t q = q0; q < q1; q++) buf[q * Op + o] = g[o * L + q];
    }
}

/* p: as conv_fwd's. x (N, C, H, W) (padded into pad, or already), g (N, O, Ho, Wo), dw (J, Op)
 * accumulated into; buf (Ho Wo, Op) scratch, zero past O: each example's g is laid out there
 * channels last, the tiles' vectors. */
DISPATCH void NAME(conv_dw)(const T *x, const T *g, const ptrdiff_t *off, T *dw, T *buf, T *pad,
                            const int64_t *p)
{
    const ptrdiff_t N = p[0], Wp = p[3], O = p[4], Op = p[5], J = p[6];
    const ptrdiff_t Ho = p[7], Wo = p[8], sh = p[9], sw = p[10];
    for (ptrdiff_t n = 0; n < N; n++) {
        const T *xn = NAME(example)(x, n, pad, p);
        NAME(channels_last)(g + n * O * Ho * Wo, buf, O, Ho * Wo, Op);
        for (ptrdiff_t o0 = 0; o0 < O; o0 += 2 * VL) {
            const int NV = O - o0 > VL ? 2 : 1;
            for (ptrdiff_t j0 = 0; j0 < J; j0 += 12) {
                const int jb = J - j0 < 12 ? (int)(J - j0) : 12;
                T *d = dw + j0 * Op + o0;
                if (NV == 2)
                    NAME(dw_tile)(xn, off + j0, buf + o0, Op, Ho, Wo, sh * Wp, sw, d, Op, jb, 2, 12);
                else
                    NAME(dw_tile)(xn, off + j0, buf + o0, Op, Ho, Wo, sh * Wp, sw, d, Op, jb, 1, 12);
            }
        }
    }
}

/* The scattered transposed convolution (stride > 1): for each kernel offset t (kh, kw),
 * dx[n, hi, wi, c] += sum_o g[n, o, ho, wo] w[t, o, c] at hi = ho sh + kh dh, wi = wo sw + kw dw.
 * p: N, C, Hp, Wp, O, Cp, T(offsets), Ho, Wo, sh, sw. g (N, O, Ho, Wo); w (T, O, Cp) (zero past
 * C); dx (N, Hp, Wp, Cp) channels-last, accumulated into; toff: each offset's kh dh Wp + kw dw
 * in pixels of the dx plane. */
static inline __attribute__((always_inline)) void NAME(dx_tile)(
    const T *restrict gb, ptrdiff_t ldo, ptrdiff_t O, const T *restrict w, ptrdiff_t ldw,
    T *restrict db, ptrdiff_t step, int pb, const int NV, const int PB)
{
    V acc[2][12];
    ptrdiff_t col[12];
#pragma GCC unroll 12
    for (int i = 0; i < PB; i++) {
        col[i] = i < pb ? i : pb - 1;
        acc[0][i] = (V){0};
        acc[1][i] = (V){0};
    }
    for (ptrdiff_t o = 0; o < O; o++) {
        const T *go = gb + o * ldo;
        V w0 = *(const V *)(w + o * ldw);
        V w1 = NV > 1 ? *(const V *)(w + o * ldw + VL) : (V){0};
#pragma GCC unroll 12
        for (int i = 0; i < PB; i++) {
            T gv = go[col[i]];
            acc[0][i] += gv * w0;
            if (NV > 1) acc[1][i] += gv * w1;
        }
    }
    for (int i = 0; i < pb; i++) {
        *(V *)(db + i * step) += acc[0][i];
        if (NV > 1) *(V *)(db + i * step + VL) += acc[1][i];
    }
}

DISPATCH void NAME(conv_dx)(const T *g, const T *w, const ptrdiff_t *toff, T *dx, const int64_t *p)
{
    const ptrdiff_t N = p[0], Hp = p[2], Wp = p[3], O = p[4], Cp = p[5], K = p[6];
    const ptrdiff_t Ho = p[7], Wo = p[8], sh = p[9], sw = p[10];
    for (ptrdiff_t n = 0; n < N; n++)
        for (ptrdiff_t ho = 0; ho < Ho; ho++)
            for (ptrdiff_t w0 = 0; w0 < Wo; w0 += 12) {
                const int pb = Wo - w0 < 12 ? (int)(Wo - w0) : 12;
                const T *gb = g + n * O * Ho * Wo + ho * Wo + w0;
                for (ptrdiff_t c0 = 0; c0 < Cp; c0 += 2 * VL) {
                    const int NV = Cp - c0 > VL ? 2 : 1;
                    for (ptrdiff_t t = 0; t < K; t++) {
                        T *db = dx + ((n * Hp + ho * sh) * Wp + w0 * sw + toff[t]) * Cp + c0;
                        const T *wt = w + t * O * Cp + c0;
                        if (NV == 2)
                            NAME(dx_tile)(gb, Ho * Wo, O, wt, Cp, db, sw * Cp, pb, 2, 12);
                        else
                            NAME(dx_tile)(gb, Ho * Wo, O, wt, Cp, db, sw * Cp, pb, 1, 12);
                    }
                }
            }
}

#undef V
