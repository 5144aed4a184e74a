/* What conv.c and pointwise.c share: the per-CPU dispatch and the names' type suffix. */
#ifndef CHAINRULE_DISPATCH_H
#define CHAINRULE_DISPATCH_H

#if defined(__clang__)
#define CHAINRULE_CLONES (__clang_major__ >= 14)
#elif defined(__GNUC__)
#define CHAINRULE_CLONES (__GNUC__ >= 11) /* the x86-64-v3/v4 names: GCC 11 */
#else
#define CHAINRULE_CLONES 0
#endif

#if CHAINRULE_CLONES && defined(__x86_64__) && defined(__linux__)
/* one build runs on any x86-64: the loader picks the widest of these the CPU has (older
 * compilers build the plain x86-64 version only) */
#define DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DISPATCH
#endif

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)

#endif
