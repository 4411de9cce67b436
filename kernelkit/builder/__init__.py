"""Building and testing the library: the CMake/Ninja driver, the toolchain it finds, `doctor`, the features a
built library records, and the pytest runner of `kernelkit test`."""
