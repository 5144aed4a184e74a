/* Whole-array kernels for one element type (included by pointwise.c with T and NAME(f)): the
 * ReLU's gradient mask and batch norm's rule, each in as few passes over the data as it takes,
 * where NumPy needs one pass per operation and a temporary for each. */

/* out = g * [a > 0] over n elements: the ReLU's gradient (a product, as NumPy's g * mask, so
 * that a NaN or infinite g still propagates where the mask is 0). */
DISPATCH void NAME(step_mask)(const T *g, const T *a, T *out, const int64_t *p)
{
    const ptrdiff_t n = p[0];
    for (ptrdiff_t i = 0; i < n; i++) out[i] = g[i] * (T)(a[i] > 0);
}

typedef T NAME(pvec) __attribute__((vector_size(VL * sizeof(T)), aligned(sizeof(T))));

/* Per channel c of g and x (N, C, L): sg[c] = Σ g, sgd[c] = Σ g (x - mean[c]), each example's
 * row summed in vectors of T (the compiler may not reorder a scalar sum into one), the rows'
 * sums added in double. p: N, C, L. */
DISPATCH void NAME(channel_sums)(const T *g, const T *x, const T *mean, double *sg, double *sgd,
                                 const int64_t *p)
{
    typedef NAME(pvec) V;
    const ptrdiff_t N = p[0], C = p[1], L = p[2], whole = L - L % VL;
    for (ptrdiff_t c = 0; c < C; c++) {
        sg[c] = 0;
        sgd[c] = 0;
    }
    for (ptrdiff_t n = 0; n < N; n++)
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *gr = g + (n * C + c) * L, *xr = x + (n * C + c) * L;
            const T m = mean[c];
            V v1 = {0}, v2 = {0};
            for (ptrdiff_t l = 0; l < whole; l += VL) {
                V gv = *(const V *)(gr + l);
                v1 += gv;
                v2 += gv * (*(const V *)(xr + l) - m);
            }
            T s1 = 0, s2 = 0;
            for (int k = 0; k < VL; k++) {
                s1 += v1[k];
                s2 += v2[k];
            }
            for (ptrdiff_t l = whole; l < L; l++) {
                s1 += gr[l];
                s2 += gr[l] * (xr[l] - m);
            }
            sg[c] += s1;
            sgd[c] += s2;
        }
}

/* out[n, c, l] = A[c] g + B[c] (x - mean[c]) + K[c] over g, x (N, C, L). p: N, C, L. */
DISPATCH void NAME(channel_affine)(const T *g, const T *x, const T *mean, const T *A, const T *B,
                                   const T *K, T *out, const int64_t *p)
{
    const ptrdiff_t N = p[0], C = p[1], L = p[2];
    for (ptrdiff_t n = 0; n < N; n++)
        for (ptrdiff_t c = 0; c < C; c++) {
            const ptrdiff_t o = (n * C + c) * L;
            const T a = A[c], b = B[c], k = K[c], m = mean[c];
            for (ptrdiff_t l = 0; l < L; l++) out[o + l] = a * g[o + l] + b * (x[o + l] - m) + k;
        }
}
