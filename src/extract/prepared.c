/* prepared.c: an item's prepared state (prepared.h): freed, its time,
 * marked failed, its model results dropped. */
#include "extract/prepared.h"

#include <stdlib.h>

#include "video/netio.h"

void ovx_prepared_free(ovx_prepared *p)
{
    if (!p)
        return;
    for (int v = 0; v < p->n_views; v++) {
        ovx_token_buffer_free(&p->views[v].tb);
        cJSON_Delete(p->views[v].select_json);
    }
    free(p->views);
    cJSON_Delete(p->image_json);
    free(p->pixels);
    free(p->indices);
    free(p->tokens);
    free(p->pooled);
    free(p->hidden);
    free(p);
}

double ovx_prepared_seconds(const ovx_prepared *p)
{
    return p ? (p->t_prepare + p->t_model) / 1000.0 : 0.0;
}

ovx_prepared *ovx_prepared_fail(ovx_prepared *p, const char *stage)
{
    int why = ovx_netio_take_abort(); /* the input's reads were ended on purpose (netio.h) */
    if (why == OVX_NETIO_STOPPED)
        ovx_error_set(&p->err, OVX_EINTERRUPTED, "interrupted");
    else if (why == OVX_NETIO_TOO_SLOW)
        ovx_error_set(&p->err, OVX_EIO, "timed out: read slower than %.0f bytes/s on average after %g s",
                      OVX_NETIO_MIN_RATE, ovx_netio_timeout());
    p->failed = 1;
    p->stage = stage;
    return p;
}

void ovx_prepared_drop_results(ovx_prepared *p)
{
    free(p->tokens);
    free(p->pooled);
    free(p->hidden);
    p->tokens = p->pooled = p->hidden = NULL;
}
