"""The package's one C extension; everything else about the build is in pyproject.toml.

featurehouse.online.redis._speedups writes a read's HGETs and decodes its usual answer
(online/redis/_speedups.c). It is optional: where it cannot be built (no C compiler) the
install goes on and the readers take the Python path, with the same answers.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "featurehouse.online.redis._speedups",
            ["sync/featurehouse/online/redis/_speedups.c"],
            optional=True,
        )
    ]
)
