"""Test helpers of sgl-kernel's ``sgl_kernel.testing`` package (torch references its tests compare against)."""
