"""The package's one C extension; everything else about the build is in pyproject.toml.

featurehouse.online.redis._speedups writes a read's HGETs and decodes its usual answer, and
writes a full sync's msgpack records, bucket hashes and RESTORE payloads
(online/redis/_speedups.c). It is optional: where it cannot be built (no C compiler) the
install goes on and readers and writers take the Python path, with the same answers and bytes.
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
