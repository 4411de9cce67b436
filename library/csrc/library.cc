// The library as a whole: it claims the `kernelkit` op namespace (each op's own csrc/<category>/<op>.cc
// adds its schema and kernels as fragments), and records what this build was compiled with.
#include "kernelkit/binding.h"

// One string in the library: `kernelkit list` / `doctor` read it from the file, `kernelkit_ops.fp4_enabled()`
// from the loaded library (kernelkit/builder/features.py).
#ifdef KERNELKIT_ENABLE_FP4
#define KERNELKIT_FEATURE_FP4 "1"
#else
#define KERNELKIT_FEATURE_FP4 "0"
#endif
#ifdef KERNELKIT_ENABLE_CUTLASS
#define KERNELKIT_FEATURE_CUTLASS "1"
#else
#define KERNELKIT_FEATURE_CUTLASS "0"
#endif
// The SASS targets of this build, "+"-separated (e.g. "90a+100a"), from CMake's KERNELKIT_CUDA_ARCHS: the package
// refuses to import on a GPU none of them runs on (python/kernelkit_ops/_archguard.py). Empty (not checked) for a
// build made without CMake.
#ifndef KERNELKIT_FEATURE_ARCHS
#define KERNELKIT_FEATURE_ARCHS ""
#endif
extern "C" {
extern __attribute__((visibility("default"), used)) const char kernelkit_features[];
const char kernelkit_features[] = "KERNELKIT_FEATURES:fp4=" KERNELKIT_FEATURE_FP4 ",cutlass=" KERNELKIT_FEATURE_CUTLASS
                                  ",archs=" KERNELKIT_FEATURE_ARCHS;
}

// Only one library may define the namespace: loading a second library that claims `kernelkit` fails
// loudly instead of mixing two sets of ops.
STABLE_TORCH_LIBRARY(kernelkit, m) {}
