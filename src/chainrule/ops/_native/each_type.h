/* Instantiates the kernels of the header named by KERNELS once per element type: float32 and
 * float64 in 64-byte vectors (T the type, VL its lanes, NAME(f) f with the type's suffix).
 * Included, with KERNELS defined, by conv.c and pointwise.c. */
#define T float
#define VL 16
#define NAME(f) CAT(f, f32)
#include KERNELS
#undef T
#undef VL
#undef NAME

#define T double
#define VL 8
#define NAME(f) CAT(f, f64)
#include KERNELS
#undef T
#undef VL
#undef NAME
