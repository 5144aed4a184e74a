"""Builds chainrule's optional native kernels (src/chainrule/ops/_native: the convolutions,
the ReLU's gradient and batch norm's rule); everything else about the package is in
pyproject.toml. Without a working C compiler the
extension is skipped (``optional=True``) and chainrule runs its NumPy formulation instead."""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = "src/chainrule/ops/_native"
# -ffp-contract=fast: multiply-adds fused (ISO C modes turn fusing off); -g0: no debug
# information (Python's own flags ask for it: 2.3 MB of it); GCC/Clang-style only
UNIX_FLAGS = ["-O3", "-std=c99", "-ffp-contract=fast", "-g0"]


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = UNIX_FLAGS
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "chainrule.ops._native._conv",
            sources=[f"{NATIVE}/conv.c", f"{NATIVE}/pointwise.c"],
            depends=[
                f"{NATIVE}/{h}" for h in ("conv_kernels.h", "pointwise_kernels.h", "dispatch.h")
            ],
            define_macros=[("CHAINRULE_PYTHON_MODULE", "1")],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildExt},
)
