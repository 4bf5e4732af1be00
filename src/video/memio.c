/* memio.c: libavformat reading a caller's buffer (see memio.h). */
#include "video/memio.h"

#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/mem.h>

#define MEMIO_BUFFER 32768

typedef struct memio_state {
    const uint8_t *data;
    size_t size;
    size_t pos;
} memio_state;

static int memio_read(void *opaque, uint8_t *buf, int n)
{
    memio_state *s = opaque;
    if (n <= 0)
        return 0;
    if (s->pos >= s->size)
        return AVERROR_EOF;
    size_t left = s->size - s->pos;
    size_t take = (size_t)n < left ? (size_t)n : left;
    memcpy(buf, s->data + s->pos, take);
    s->pos += take;
    return (int)take;
}

static int64_t memio_seek(void *opaque, int64_t offset, int whence)
{
    memio_state *s = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return (int64_t)s->size;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)s->pos; break;
    case SEEK_END: base = (int64_t)s->size; break;
    default: return AVERROR(EINVAL);
    }
    /* no overflow: base <= size <= INT64_MAX, and the sum is checked */
    if ((offset > 0 && offset > INT64_MAX - base) || base + offset < 0)
        return AVERROR(EINVAL);
    int64_t to = base + offset;
    s->pos = (uint64_t)to > s->size ? s->size : (size_t)to; /* reads past the end see EOF */
    return to;
}

AVIOContext *ovx_memio_new(const ovx_video_memory *m)
{
    if ((uint64_t)m->size > (uint64_t)INT64_MAX)
        return NULL;
    memio_state *s = malloc(sizeof *s);
    uint8_t *buf = av_malloc(MEMIO_BUFFER);
    AVIOContext *pb = s && buf ? avio_alloc_context(buf, MEMIO_BUFFER, 0, s, memio_read, NULL, memio_seek) : NULL;
    if (!pb) {
        free(s);
        av_free(buf);
        return NULL;
    }
    *s = (memio_state){m->data, m->size, 0};
    return pb;
}

void ovx_memio_free(AVIOContext **pb)
{
    if (!pb || !*pb)
        return;
    free((*pb)->opaque);
    av_freep(&(*pb)->buffer); /* the current buffer: avio may have replaced the first */
    avio_context_free(pb);
}

void ovx_memio_close_input(AVFormatContext **fmt)
{
    AVIOContext *pb = *fmt && ((*fmt)->flags & AVFMT_FLAG_CUSTOM_IO) ? (*fmt)->pb : NULL;
    avformat_close_input(fmt);
    ovx_memio_free(&pb);
}
