/* chainrule's native whole-array kernels besides the convolutions (the ReLU's gradient, batch
 * norm's rule): plain loops the compiler vectorises, loaded with ctypes like conv.c's. */
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

#define KERNELS "pointwise_kernels.h"
#include "each_type.h"
