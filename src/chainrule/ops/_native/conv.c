/* chainrule's native convolution kernels (optional; the NumPy formulation in ops/conv.py runs
 * wherever this library was not built). Plain C99 with GCC/Clang vector extensions, loaded with
 * ctypes (no Python API): see _native/__init__.py for the layouts each kernel takes. */
#ifdef CHAINRULE_PYTHON_MODULE
/* built by setup.py as chainrule.ops._native._conv: an (empty) importable module as well, so
 * that walking chainrule's packages imports it cleanly; the kernels are reached by ctypes */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef conv_module = {
    PyModuleDef_HEAD_INIT, "_conv",
    "chainrule's native convolution kernels, called through ctypes (see _native/__init__.py).",
    -1, NULL, NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit__conv(void) { return PyModule_Create(&conv_module); }
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

/* How many output pixels a forward tile takes along a row of wo: the offered width that
 * computes the fewest pixels past the row's end (a last, shorter tile computes a whole one),
 * the wider on a tie (32 -> 4 x 8, 16 -> 2 x 8, 28 -> 4 x 7, 10 -> 10, 24 -> 2 x 12). */
static int tile_width(ptrdiff_t wo)
{
    static const int widths[] = {12, 10, 8, 7, 6, 4};
    int best = 12;
    ptrdiff_t least = -1;
    for (int k = 0; k < 6; k++) {
        ptrdiff_t spare = (wo + widths[k] - 1) / widths[k] * widths[k] - wo;
        if (least < 0 || spare < least) {
            least = spare;
            best = widths[k];
        }
    }
    return best;
}

#define ROW_BUFFER 256 /* outputs per channel gathered before they are stored (conv_fwd) */

#define KERNELS "conv_kernels.h"
#include "each_type.h"

/* float32 in 32-byte vectors too, for few channels: 6 of 8 lanes used rather than 6 of 16 */
#define T float
#define VL 8
#define NAME(f) CAT(f, f32n)
#include KERNELS
#undef T
#undef VL
#undef NAME
