/* peak.c: the bf16 tensor-core peak of a GPU for `ovx bench`'s "% of peak":
 * SMs x max clock x dense bf16 FLOP per clock per SM (fp32 accumulation),
 * from a table by compute capability. The per-SM figures are the datasheet
 * peaks divided by SMs and boost clock (A100 312 TFLOP/s, A40 150, L40S 362,
 * H100 SXM 989, B200 2250); GeForce cards accumulate in fp32 at half rate or
 * less, so --peak (the datasheet figure) is better there. */
#include "cuda/ovx_cuda.h"

int ovx_cuda_bf16_flop_per_clk_sm(int major, int minor)
{
    static const struct { int major, minor, flop; } table[] = {
        {8, 0, 2048}, /* A100, A30 */
        {8, 6, 1024}, /* A40, A10, RTX A6000 */
        {8, 9, 1024}, /* L40S, L4, RTX 6000 Ada */
        {9, 0, 4096}, /* H100, H200, GH200 */
        {10, 0, 8192}, /* B200, GB200 */
        {10, 3, 8192}, /* B300, GB300 */
        {12, 0, 1024}, /* RTX PRO 6000 Blackwell */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].major == major && table[i].minor == minor)
            return table[i].flop;
    return 0;
}

double ovx_cuda_bf16_peak_tflops(const ovx_gpu_info *i)
{
    return (double)i->sms * i->clock_mhz * 1e6 * ovx_cuda_bf16_flop_per_clk_sm(i->major, i->minor) /
           1e12;
}
