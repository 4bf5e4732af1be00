/* framepool.c: decoder picture buffers on huge pages (see framepool.h). */
#include "video/framepool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#define PLANE_ALIGN 64                   /* start of every plane */
#define PLANE_SLACK (16 + PLANE_ALIGN - 1) /* bytes after every plane, as libavcodec's pool */
#define HUGE_BYTES ((size_t)2 << 20)

struct ovx_frame_pool {
    pthread_mutex_t mu;                  /* frame-threaded decoders call in from several threads */
    AVBufferPool *pool;                  /* pictures of the layout below */
    int format, width, height;
    int linesize[4];
    size_t offset[4];                    /* plane starts inside one buffer */
    int planes;
};

static void block_free(void *opaque, uint8_t *data)
{
    size_t len = (size_t)(uintptr_t)opaque;
    if (len)
        munmap(data, len);
    else
        free(data);
}

/* One zeroed picture buffer. A large one is a fresh mapping (zero pages:
 * nothing to clear), 2 MiB aligned and advised onto huge pages before its
 * first touch (harmless where THP is off); a small one zeroed heap memory. */
static AVBufferRef *block_alloc(size_t size)
{
    uint8_t *p = NULL;
    size_t len = 0;
    if (size >= HUGE_BYTES / 2) {
        len = (size + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
        void *m = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        /* keep the 2 MiB aligned part, unmap the rest */
        uint8_t *b = m;
        p = (uint8_t *)(((uintptr_t)b + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
        if (p > b)
            munmap(b, (size_t)(p - b));
        if (b + len + HUGE_BYTES > p + len)
            munmap(p + len, (size_t)(b + len + HUGE_BYTES - (p + len)));
#ifdef MADV_HUGEPAGE
        (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    } else {
        void *m = NULL;
        if (posix_memalign(&m, PLANE_ALIGN, size) != 0)
            return NULL;
        p = memset(m, 0, size);
    }
    AVBufferRef *r = av_buffer_create(p, size, block_free, (void *)(uintptr_t)len, 0);
    if (!r)
        block_free((void *)(uintptr_t)len, p);
    return r;
}

/* Formats laid out here: planar, no palette, software. */
static int handled(const AVCodecContext *s, const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (!d || s->hw_frames_ctx || s->codec_type != AVMEDIA_TYPE_VIDEO || !(s->codec->capabilities & AV_CODEC_CAP_DR1))
        return 0;
    if (d->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM))
        return 0;
    return (d->flags & AV_PIX_FMT_FLAG_PLANAR) && f->width > 0 && f->height > 0;
}

/* The layout for f's format and size (libavcodec's rules: dimensions
 * aligned for the codec, the width widened until every line size meets its
 * alignment) and a pool of buffers holding it. Called with p->mu held. */
static int layout(ovx_frame_pool *p, AVCodecContext *s, const AVFrame *f)
{
    if (p->pool && p->format == f->format && p->width == f->width && p->height == f->height)
        return 0;
    int w = f->width, h = f->height, align[AV_NUM_DATA_POINTERS] = {0}, ls[4];
    avcodec_align_dimensions2(s, &w, &h, align);
    for (int tries = 0;; tries++) {
        if (tries > 16 || av_image_fill_linesizes(ls, (enum AVPixelFormat)f->format, w) < 0)
            return -1;
        int off = 0;
        for (int i = 0; i < 4; i++)
            off |= align[i] > 0 && ls[i] % align[i];
        if (!off)
            break;
        w += w & -w; /* the lowest set bit: next power-of-two multiple */
    }
    ptrdiff_t pls[4];
    size_t sizes[4];
    for (int i = 0; i < 4; i++)
        pls[i] = ls[i];
    if (av_image_fill_plane_sizes(sizes, (enum AVPixelFormat)f->format, h, pls) < 0)
        return -1;
    size_t total = 0;
    int planes = 0;
    for (int i = 0; i < 4 && sizes[i]; i++, planes++) {
        p->offset[i] = total;
        p->linesize[i] = ls[i];
        total += (sizes[i] + PLANE_SLACK + PLANE_ALIGN - 1) & ~(size_t)(PLANE_ALIGN - 1);
    }
    if (!planes)
        return -1;
    AVBufferPool *np = av_buffer_pool_init(total, block_alloc);
    if (!np)
        return -1;
    av_buffer_pool_uninit(&p->pool); /* freed once its pictures come back */
    p->pool = np;
    p->planes = planes;
    p->format = f->format;
    p->width = f->width;
    p->height = f->height;
    return 0;
}

static int get_buffer(AVCodecContext *s, AVFrame *f, int flags)
{
    ovx_frame_pool *p = s->opaque;
    if (!p || !handled(s, f))
        return avcodec_default_get_buffer2(s, f, flags);
    pthread_mutex_lock(&p->mu);
    int rc = layout(p, s, f);
    AVBufferRef *b = rc == 0 ? av_buffer_pool_get(p->pool) : NULL;
    int planes = p->planes;
    int linesize[4];
    size_t offset[4];
    memcpy(linesize, p->linesize, sizeof linesize);
    memcpy(offset, p->offset, sizeof offset);
    pthread_mutex_unlock(&p->mu);
    if (rc < 0)
        return avcodec_default_get_buffer2(s, f, flags);
    if (!b)
        return AVERROR(ENOMEM);
    memset(f->data, 0, sizeof f->data);
    memset(f->linesize, 0, sizeof f->linesize);
    f->buf[0] = b;
    for (int i = 0; i < planes; i++) {
        f->data[i] = b->data + offset[i];
        f->linesize[i] = linesize[i];
    }
    f->extended_data = f->data;
    return 0;
}

ovx_frame_pool *ovx_frame_pool_new(void)
{
    ovx_frame_pool *p = calloc(1, sizeof *p);
    if (p && pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

void ovx_frame_pool_attach(ovx_frame_pool *p, AVCodecContext *dec)
{
    if (!p)
        return;
    dec->opaque = p;
    dec->get_buffer2 = get_buffer;
#if LIBAVCODEC_VERSION_MAJOR < 60
    /* get_buffer is thread-safe (FFmpeg 6 assumes it of every callback;
     * before, frame threading warns unless told) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    dec->thread_safe_callbacks = 1;
#pragma GCC diagnostic pop
#endif
}

void ovx_frame_pool_free(ovx_frame_pool *p)
{
    if (!p)
        return;
    av_buffer_pool_uninit(&p->pool);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
