/* cmd_inspect.c: `ovx inspect`: load a model folder (checking every tensor)
 * and summarise it: config, dtype, parameter count, tensors, checksum. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/opt_suggest.h"
#include "model/model.h"

void ovx_help_inspect(FILE *out)
{
    fprintf(out,
            "usage: ovx inspect [-m MODEL] [--tensors]\n"
            "\n"
            "Loads a model folder (or Hugging Face id), validates config.json and every\n"
            "safetensors tensor (name, dtype, shape, offsets), and prints the config, the\n"
            "file dtype, the parameter count, the tensors found and a checksum of the\n"
            "float32 weights (FNV-1a 64, identical for BF16/F16/F32 files of equal values).\n"
            "\n"
            "  -m, --model MODEL   model folder or Hugging Face id (default $OVX_MODEL)\n"
            "      --tensors       also list every tensor: name, dtype, shape\n"
            "  -h, --help          this help\n");
}

int ovx_cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"tensors", no_argument, 0, 'T'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL;
    int list = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = ovx_cli_getopt("inspect", argc, argv, "m:h", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': list = 1; break;
        case 'h': ovx_help_inspect(stdout); return OVX_EXIT_OK;
        default: /* OVX_CLI_OPT_ERROR: said */
            return OVX_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ovx inspect: unexpected argument '%s'\n", argv[optind]);
        return OVX_EXIT_USAGE;
    }
    ovx_error err;
    ovx_error_clear(&err);
    ovx_model *m = NULL;
    if (ovx_model_load(model, NULL, &m, &err)) {
        fprintf(stderr, "ovx inspect: %s\n", err.msg);
        return err.code == OVX_EUSAGE ? OVX_EXIT_USAGE : OVX_EXIT_FAIL;
    }
    char warn[1400];
    if (ovx_model_weights_warning(m, warn, sizeof warn))
        fprintf(stderr, "ovx inspect: warning: %s\n", warn);
    const ovx_model_config *cf = ovx_model_get_config(m);
    ovx_model_info info;
    ovx_model_get_info(m, &info);
    int64_t head = 0;
    for (int i = 0; i < info.n_tensors; i++) {
        int nd;
        int64_t shape[4];
        const char *dt, *name = ovx_model_tensor(m, i, &nd, shape, &dt);
        int64_t n = 1;
        for (int d = 0; d < nd; d++)
            n *= shape[d];
        if (!strncmp(name, "head.", 5))
            head += n;
    }
    printf("model        %s\n", info.path);
    printf("config       hidden %d, intermediate %d, layers %d, heads %d x %d, channels %d, patch %d,\n"
           "             image %d, rope_theta %g, temporal slots %d, layer_norm_eps %g, head %s\n",
           cf->hidden_size, cf->intermediate_size, cf->num_layers, cf->num_heads, cf->head_dim, cf->num_channels,
           cf->patch_size, cf->image_size, cf->rope_theta, cf->rope_temporal_size, (double)cf->layer_norm_eps,
           cf->use_head ? "yes (layernorm_post + attention pooling)" : "no");
    printf("dtype        %s\n", info.dtype);
    printf("parameters   %" PRId64 " (%.1fM; head %.1fM)\n", info.n_params, (double)info.n_params / 1e6,
           (double)head / 1e6);
    printf("tensors      %d, all expected and present\n", info.n_tensors);
    printf("checksum     fnv1a64:%016" PRIx64 "\n", info.checksum);
    if (list) {
        for (int i = 0; i < info.n_tensors; i++) {
            int nd;
            int64_t shape[4];
            const char *dt, *name = ovx_model_tensor(m, i, &nd, shape, &dt);
            printf("  %-52s %-5s [", name, dt);
            for (int d = 0; d < nd; d++)
                printf("%s%" PRId64, d ? "," : "", shape[d]);
            printf("]\n");
        }
    }
    ovx_model_free(m);
    return OVX_EXIT_OK;
}
