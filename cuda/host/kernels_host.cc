/* kernels_host.cc: kernels.cu compiled as host C++ on the CUDA-on-host shim
 * (cuda_host.h), giving the ovx_host_k_* entry points of host_ops.c. */
#include "cuda/kernels.cu"
