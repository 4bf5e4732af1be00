/* attention_host.cc: attention.cu compiled as host C++ on the CUDA-on-host
 * shim (cuda_host.h), giving ovx_host_k_flash_attention for host_ops.c. */
#include "cuda/attention.cu"
