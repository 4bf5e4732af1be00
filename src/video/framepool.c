/* framepool.c: decoder picture buffers packed on huge pages (see framepool.h). */
#include "video/framepool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>

#define PLANE_ALIGN 64                     /* start of every plane buffer */
#define PLANE_SLACK (16 + PLANE_ALIGN - 1) /* bytes after every plane, as libavcodec's pool */
#define HUGE_BYTES ((size_t)2 << 20)
#define CHUNK_BYTES ((size_t)16 << 20)     /* arena mapping size (more for larger planes) */
#define MIN_PICTURE (HUGE_BYTES / 2)       /* smaller pictures keep libavcodec's buffers */

/* Under AddressSanitizer the unused parts of a mapping are poisoned and a
 * poisoned gap follows every buffer, so a read past a plane's slack is
 * caught as it is with libavcodec's malloc'd buffers. */
#if defined(__SANITIZE_ADDRESS__)
#define OVX_FRAMEPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OVX_FRAMEPOOL_ASAN 1
#endif
#endif
#ifdef OVX_FRAMEPOOL_ASAN
#include <sanitizer/asan_interface.h>
#define REDZONE PLANE_ALIGN
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define REDZONE 0
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Mappings the plane buffers are cut from, one after the other; never
 * reused piecewise (the AVBufferPools recycle the buffers), unmapped when
 * the last buffer and the pool itself are gone. */
typedef struct chunk {
    struct chunk *next;
    uint8_t *base;
    size_t len, used;
    int dirty;                             /* reused: blocks are cleared when handed out */
} chunk;

/* Chunks of finished arenas, kept for the next decoder of the process (a
 * batch decodes video after video): fresh pages cost far more than
 * clearing used ones. At most CACHE_BYTES are kept. */
#define CACHE_BYTES ((size_t)256 << 20)
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static chunk *cache;
static size_t cache_bytes;

typedef struct arena {
    atomic_int refs;                       /* live buffers + 1 for the frame pool */
    chunk *chunks;                         /* newest first; grown under the pool's lock */
} arena;

struct ovx_frame_pool {
    pthread_mutex_t mu;                    /* frame-threaded decoders call in from several threads */
    arena *mem;
    AVBufferPool *pools[4];                /* one per plane, as libavcodec's default */
    int format, width, height, small, planes;
    int linesize[4];
    int pack, clear;                       /* ovx_frame_pool_attach's */
};

static void arena_release(arena *a)
{
    if (atomic_fetch_sub(&a->refs, 1) != 1)
        return;
    for (chunk *c = a->chunks, *n; c; c = n) {
        n = c->next;
        int keep = 0;
        UNPOISON(c->base, c->len); /* unmapped or kept: no stale poison */
        if (c->len == CHUNK_BYTES) {
            pthread_mutex_lock(&cache_mu);
            if ((keep = cache_bytes + c->len <= CACHE_BYTES)) {
                c->next = cache;
                c->used = 0;
                c->dirty = 1;
                cache = c;
                cache_bytes += c->len;
            }
            pthread_mutex_unlock(&cache_mu);
        }
        if (!keep) {
            munmap(c->base, c->len);
            free(c);
        }
    }
    free(a);
}

static void block_free(void *opaque, uint8_t *data)
{
    (void)data;
    arena_release(opaque);
}

/* A fresh 2 MiB aligned mapping of len bytes (a multiple of 2 MiB),
 * advised onto huge pages before its first touch (harmless where THP is
 * off); its pages read as zero. */
static uint8_t *map_aligned(size_t len)
{
    void *m = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uint8_t *b = m, *p = (uint8_t *)(((uintptr_t)b + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
    if (p > b)
        munmap(b, (size_t)(p - b));
    if (b + HUGE_BYTES > p)
        munmap(p + len, (size_t)(b + HUGE_BYTES - p));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

/* AVBufferPool allocator: the next size bytes of the arena, zero (fresh
 * pages, or cleared in a chunk reused from the cache). Called under the
 * frame pool's lock. */
static AVBufferRef *block_alloc(void *opaque, size_t size)
{
    arena *a = opaque;
    chunk *c = a->chunks;
    if (!c || c->used > c->len || c->len - c->used < size) {
        size_t len = size > CHUNK_BYTES ? (size + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1) : CHUNK_BYTES;
        chunk *n = NULL;
        if (len == CHUNK_BYTES) {
            pthread_mutex_lock(&cache_mu);
            if ((n = cache)) {
                cache = n->next;
                cache_bytes -= n->len;
            }
            pthread_mutex_unlock(&cache_mu);
        }
        if (!n) {
            n = calloc(1, sizeof *n);
            if (!n || !(n->base = map_aligned(len))) {
                free(n);
                return NULL;
            }
            n->len = len;
        }
        POISON(n->base, n->len);
        n->next = a->chunks;
        a->chunks = c = n;
    }
    uint8_t *p = c->base + c->used;
    UNPOISON(p, size);
    if (c->dirty)
        memset(p, 0, size);
    AVBufferRef *r = av_buffer_create(p, size, block_free, a, 0);
    if (!r)
        return NULL;
    c->used = (c->used + size + REDZONE + PLANE_ALIGN - 1) & ~(size_t)(PLANE_ALIGN - 1);
    atomic_fetch_add(&a->refs, 1);
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

static void pools_drop(ovx_frame_pool *p)
{
    for (int i = 0; i < 4; i++)
        av_buffer_pool_uninit(&p->pools[i]); /* freed once their buffers come back */
    p->planes = 0;
}

/* The layout for f's format and size (libavcodec's rules: dimensions
 * aligned for the codec, the width widened until every line size meets its
 * alignment, each plane its own buffer with the same slack) and a pool per
 * plane. Called with p->mu held. */
static int layout(ovx_frame_pool *p, AVCodecContext *s, const AVFrame *f)
{
    if ((p->planes || p->small) && p->format == f->format && p->width == f->width && p->height == f->height)
        return 0;
    pools_drop(p);
    p->small = 0;
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
    size_t sizes[4], total = 0;
    for (int i = 0; i < 4; i++)
        pls[i] = ls[i];
    if (av_image_fill_plane_sizes(sizes, (enum AVPixelFormat)f->format, h, pls) < 0)
        return -1;
    int planes = 0;
    while (planes < 4 && sizes[planes])
        total += sizes[planes++];
    if (!planes)
        return -1;
    p->format = f->format;
    p->width = f->width;
    p->height = f->height;
    if (total < MIN_PICTURE) {
        p->small = 1; /* a few pages a picture: libavcodec's own buffers */
        return 0;
    }
    for (int i = 0; i < planes; i++) {
        p->linesize[i] = ls[i];
        p->pools[i] = av_buffer_pool_init2(sizes[i] + PLANE_SLACK, p->mem, block_alloc, NULL);
        if (!p->pools[i]) {
            pools_drop(p);
            return -1;
        }
    }
    p->planes = planes;
    return 0;
}

static int pool_get(ovx_frame_pool *p, AVCodecContext *s, AVFrame *f, int flags)
{
    if (!handled(s, f))
        return avcodec_default_get_buffer2(s, f, flags);
    pthread_mutex_lock(&p->mu);
    int rc = layout(p, s, f), planes = rc < 0 || p->small ? 0 : p->planes;
    AVBufferRef *b[4] = {NULL, NULL, NULL, NULL};
    int ok = 1;
    for (int i = 0; i < planes; i++)
        ok &= (b[i] = av_buffer_pool_get(p->pools[i])) != NULL;
    int linesize[4];
    memcpy(linesize, p->linesize, sizeof linesize);
    pthread_mutex_unlock(&p->mu);
    if (!planes)
        return avcodec_default_get_buffer2(s, f, flags);
    if (!ok) {
        for (int i = 0; i < planes; i++)
            av_buffer_unref(&b[i]);
        return AVERROR(ENOMEM);
    }
    memset(f->data, 0, sizeof f->data);
    memset(f->linesize, 0, sizeof f->linesize);
    for (int i = 0; i < planes; i++) {
        f->buf[i] = b[i];
        f->data[i] = b[i]->data;
        f->linesize[i] = linesize[i];
    }
    f->extended_data = f->data;
    return 0;
}

static int get_buffer(AVCodecContext *s, AVFrame *f, int flags)
{
    ovx_frame_pool *p = s->opaque;
    int rc = p && p->pack ? pool_get(p, s, f, flags) : avcodec_default_get_buffer2(s, f, flags);
    if (rc >= 0 && p && p->clear)
        for (int i = 0; i < AV_NUM_DATA_POINTERS && f->buf[i]; i++)
            memset(f->buf[i]->data, 0, f->buf[i]->size);
    return rc;
}

ovx_frame_pool *ovx_frame_pool_new(void)
{
    ovx_frame_pool *p = calloc(1, sizeof *p);
    arena *a = calloc(1, sizeof *a);
    if (!p || !a || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        free(a);
        return NULL;
    }
    atomic_init(&a->refs, 1);
    p->mem = a;
    return p;
}

void ovx_frame_pool_attach(ovx_frame_pool *p, AVCodecContext *dec, int pack, int clear)
{
    if (!p || (!pack && !clear))
        return;
    p->pack = pack;
    p->clear = clear;
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
    pools_drop(p);
    arena_release(p->mem);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
