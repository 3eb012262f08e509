"""The one compiled part: edged._area, the exact area-resize kernel (edged/_area.c).

Optional: where it cannot be built (no C compiler or Python headers), the install goes on and
edged resizes with OpenCV's INTER_AREA instead (edged.area.KERNEL is None; `edged doctor` says
so). Everything else is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("edged._area", ["edged/_area.c"], optional=True,
                             extra_compile_args=["-O3"])])
