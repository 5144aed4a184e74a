/* chainrule's native whole-array kernels besides the convolutions (the ReLU's gradient, batch
 * norm's rule): plain loops the compiler vectorises, loaded with ctypes like conv.c's. */
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

#define T float
#define VL 16
#define NAME(f) CAT(f, f32)
#include "pointwise_kernels.h"
#undef T
#undef VL
#undef NAME

#define T double
#define VL 8
#define NAME(f) CAT(f, f64)
#include "pointwise_kernels.h"
#undef T
#undef VL
#undef NAME
