/* attention_mma_host.cc: attention_mma.cu compiled as host C++ on the
 * CUDA-on-host shim (cuda_host.h; its PTX through the twins of ptx_host.cc),
 * giving ovx_host_k_flash_attention_mma for host_ops.c. */
#include "cuda/attention_mma.cu"
