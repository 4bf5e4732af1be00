/* cuda_host.cc: the execution engine of the CUDA-on-host shim (see
 * cuda_host.h). A launch runs the blocks of its grid one after the other;
 * the threads of a block are either
 *  - fibers (default): blockDim user-space contexts on the calling thread,
 *    switched only at barriers (an x86-64 register switch, no system call),
 *    in a fixed order: deterministic, and fast enough to run the whole
 *    forward (a barrier costs ~10 ns per thread instead of ~10 us per thread
 *    for a futex wake-up on the sandboxed CI machine); or
 *  - OS threads (OVX_CUDA_HOST=threads, or ovx_cuda_host_set_threads(1)):
 *    blockDim std::threads with std::barrier for __syncthreads and per-warp
 *    barriers: real concurrency, used by tests on small shapes.
 * Shuffles and votes: a per-warp exchange area (double buffered) and the
 * warp barrier. One launch at a time per process (a mutex), so `__shared__`
 * statics are the running block's shared memory. */
#include "cuda_host.h"

#include <barrier>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define OVX_ASAN_FIBERS 1
#endif

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

extern "C" void ovx_fiber_switch(void **save_sp, void *new_sp);

#if defined(__x86_64__)
/* save callee-saved registers and the stack pointer in *save_sp, continue
 * on new_sp (a stack saved the same way, or a fresh one from fiber_init) */
asm(".text\n"
    ".globl ovx_fiber_switch\n"
    ".type ovx_fiber_switch,@function\n"
    "ovx_fiber_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size ovx_fiber_switch,.-ovx_fiber_switch\n"
    ".section .note.GNU-stack,\"\",@progbits\n"
    ".text\n");
#define OVX_HAVE_FIBERS 1
#endif

namespace {

thread_local cudaError_t last_error = cudaSuccess;
std::mutex launch_mutex;

/* ---- barriers for the fiber engine (single OS thread, no atomics) ---- */
struct fbarrier {
    unsigned expected = 0, next_expected = 0, count = 0, gen = 0;
    void reset(unsigned n) { expected = next_expected = n, count = 0; }
};

typedef std::optional<std::barrier<>> os_barrier;

/* the barriers and the exchange area of one block; the OS engine alternates
 * two sets so that thread 0 can rebuild the next block's set while this
 * block runs */
struct block_set {
    os_barrier block;
    std::unique_ptr<os_barrier[]> warps;
    fbarrier fblock;
    std::vector<fbarrier> fwarps;
    std::vector<unsigned char> exchange; /* [warp][phase 2][lane 32][XSLOT bytes] */
};

/* one cp.async of a lane, performed at the cp.async.wait_group that covers it */
struct async_copy {
    void *dst;
    const void *src;
    int src_bytes, bytes;
};

struct lane_state {
    unsigned tid = 0, set = 0, phase = 0;
    std::vector<async_copy> copies; /* issued, not yet performed */
    std::vector<std::size_t> groups; /* end of each committed group in copies */
    /* fiber engine */
    void *sp = nullptr;
    int done = 0;
    void *asan_fake = nullptr;
};

struct launch_state {
    dim3 grid, blk;
    unsigned nthreads = 0, nwarps = 0;
    int fibers = 1;
    block_set sets[2];
    std::optional<std::barrier<>> gate; /* OS engine: end of every block */
    ovx_host::body_fn body = nullptr;
    void *ctx = nullptr;
    std::mutex go_mutex;
    std::condition_variable go_cv;
    int go = 0; /* 1 run, -1 abort (thread creation failed) */
    std::vector<lane_state> lanes;
    void *sched_sp = nullptr;
    const void *sched_stack = nullptr;
    std::size_t sched_stack_size = 0;
};

thread_local launch_state *cur = nullptr;
thread_local lane_state *self = nullptr;

int want_threads = -1; /* -1: from the environment */
int cp_async_early = 0; /* see ovx_cuda_host_set_cp_async_early */
constexpr std::size_t XSLOT = 64; /* bytes a lane can publish in one exchange */

unsigned lanes_in_warp(const launch_state *L, unsigned w)
{
    unsigned left = L->nthreads - w * 32;
    return left < 32 ? left : 32;
}

void rebuild(launch_state *L, block_set &s)
{
    if (L->fibers) {
        s.fblock.reset(L->nthreads);
        for (unsigned w = 0; w < L->nwarps; w++)
            s.fwarps[w].reset(lanes_in_warp(L, w));
        return;
    }
    s.block.emplace(L->nthreads);
    for (unsigned w = 0; w < L->nwarps; w++)
        s.warps[w].emplace(lanes_in_warp(L, w));
}

/* ---- fiber engine ---- */
#ifdef OVX_HAVE_FIBERS
constexpr std::size_t fiber_stack = 256 * 1024;
std::vector<char *> fiber_stacks; /* kept for the process (guard page below each) */

void to_scheduler(int dying)
{
    launch_state *L = cur;
    lane_state *me = self;
#ifdef OVX_ASAN_FIBERS
    __sanitizer_start_switch_fiber(dying ? nullptr : &me->asan_fake, L->sched_stack, L->sched_stack_size);
#else
    (void)dying;
#endif
    ovx_fiber_switch(&me->sp, L->sched_sp);
#ifdef OVX_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(me->asan_fake, nullptr, nullptr);
#endif
}

void fwait(fbarrier &b, int drop)
{
    unsigned g = b.gen;
    b.count++;
    if (drop)
        b.next_expected--;
    if (b.count >= b.expected) {
        b.count = 0;
        b.expected = b.next_expected;
        b.gen++;
        return;
    }
    if (drop)
        return;
    while (b.gen == g)
        to_scheduler(0);
}

void fiber_entry()
{
#ifdef OVX_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(nullptr, &cur->sched_stack, &cur->sched_stack_size);
#endif
    launch_state *L = cur;
    L->body(L->ctx);
    lane_state *me = self;
    block_set &s = L->sets[me->set];
    fwait(s.fblock, 1);
    fwait(s.fwarps[me->tid / 32], 1);
    me->done = 1;
    to_scheduler(1);
    std::abort(); /* never resumed */
}

int run_fibers(launch_state *L)
{
    while (fiber_stacks.size() < L->nthreads) {
        void *p = mmap(nullptr, fiber_stack + 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        (void)mprotect(p, 4096, PROT_NONE); /* guard page: an overflow faults */
        fiber_stacks.push_back((char *)p + 4096);
    }
    const dim3 b = L->blk, g = L->grid;
    blockDim = b;
    gridDim = g;
    cur = L;
    const unsigned long long nblocks = (unsigned long long)g.x * g.y * g.z;
    for (unsigned long long i = 0; i < nblocks; i++) {
        rebuild(L, L->sets[0]);
        blockIdx = {(unsigned)(i % g.x), (unsigned)(i / g.x % g.y),
                    (unsigned)(i / ((unsigned long long)g.x * g.y))};
        for (unsigned t = 0; t < L->nthreads; t++) {
            lane_state &ln = L->lanes[t];
            ln.tid = t;
            ln.set = 0;
            ln.phase = 0;
            ln.copies.clear();
            ln.groups.clear();
            ln.done = 0;
            ln.asan_fake = nullptr;
            /* fresh stack: 6 zero registers, then "return" into fiber_entry */
            void **top = (void **)(fiber_stacks[t] + fiber_stack);
            top[-1] = nullptr;                         /* entry's return address slot */
            top[-2] = (void *)&fiber_entry;
            for (int r = 3; r <= 8; r++)
                top[-r] = nullptr;
            ln.sp = &top[-8];
        }
        unsigned alive = L->nthreads;
        while (alive) {
            for (unsigned t = 0; t < L->nthreads; t++) {
                lane_state &ln = L->lanes[t];
                if (ln.done)
                    continue;
                self = &ln;
                threadIdx = {t % b.x, t / b.x % b.y, t / (b.x * b.y)};
#ifdef OVX_ASAN_FIBERS
                void *fake = nullptr;
                __sanitizer_start_switch_fiber(&fake, fiber_stacks[t], fiber_stack);
#endif
                ovx_fiber_switch(&L->sched_sp, ln.sp);
#ifdef OVX_ASAN_FIBERS
                __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
                if (ln.done)
                    alive--;
            }
        }
    }
    self = nullptr;
    cur = nullptr;
    return 0;
}
#endif

/* ---- OS thread engine ---- */
void worker(launch_state *L, unsigned tid)
{
    {
        std::unique_lock<std::mutex> lk(L->go_mutex);
        L->go_cv.wait(lk, [L] { return L->go != 0; });
        if (L->go < 0)
            return;
    }
    cur = L;
    self = &L->lanes[tid];
    self->tid = tid;
    const dim3 b = L->blk, g = L->grid;
    threadIdx = {tid % b.x, tid / b.x % b.y, tid / (b.x * b.y)};
    blockDim = b;
    gridDim = g;
    const unsigned long long nblocks = (unsigned long long)g.x * g.y * g.z;
    for (unsigned long long i = 0; i < nblocks; i++) {
        self->set = (unsigned)(i & 1);
        self->phase = 0;
        self->copies.clear();
        self->groups.clear();
        if (tid == 0 && i + 1 < nblocks)
            rebuild(L, L->sets[(i + 1) & 1]);
        blockIdx = {(unsigned)(i % g.x), (unsigned)(i / g.x % g.y),
                    (unsigned)(i / ((unsigned long long)g.x * g.y))};
        L->body(L->ctx);
        /* this thread has exited the block: it no longer holds up barriers */
        block_set &s = L->sets[self->set];
        s.block->arrive_and_drop();
        s.warps[tid / 32]->arrive_and_drop();
        L->gate->arrive_and_wait();
    }
    cur = nullptr;
    self = nullptr;
}

int run_threads(launch_state *L)
{
    L->gate.emplace(L->nthreads);
    std::vector<std::thread> threads;
    int ok = 1;
    try {
        threads.reserve(L->nthreads);
        for (unsigned t = 0; t < L->nthreads; t++)
            threads.emplace_back(worker, L, t);
    } catch (...) {
        ok = 0;
    }
    {
        std::lock_guard<std::mutex> lk(L->go_mutex);
        L->go = ok ? 1 : -1;
    }
    L->go_cv.notify_all();
    for (std::thread &t : threads)
        t.join();
    return ok ? 0 : -1;
}

void wait_block(block_set &s)
{
#ifdef OVX_HAVE_FIBERS
    if (cur->fibers)
        return fwait(s.fblock, 0);
#endif
    s.block->arrive_and_wait();
}

void wait_warp(block_set &s, unsigned w)
{
#ifdef OVX_HAVE_FIBERS
    if (cur->fibers)
        return fwait(s.fwarps[w], 0);
#endif
    s.warps[w]->arrive_and_wait();
}

} /* namespace */

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure (host shim: cannot start threads)";
    }
    return "unknown error";
}

extern "C" void ovx_cuda_host_set_threads(int os_threads)
{
    want_threads = os_threads;
}

extern "C" void ovx_cuda_host_set_cp_async_early(int early)
{
    cp_async_early = early;
}

namespace ovx_host {

int lane_id() { return (int)(self->tid & 31); }

void block_sync() { wait_block(cur->sets[self->set]); }

void warp_sync() { wait_warp(cur->sets[self->set], self->tid / 32); }

static unsigned char *exchange_slot(unsigned *lane)
{
    block_set &s = cur->sets[self->set];
    unsigned w = self->tid / 32, ph = self->phase++ & 1;
    *lane = self->tid & 31;
    return s.exchange.data() + (std::size_t)(w * 2 + ph) * 32 * XSLOT;
}

void warp_exchange(const void *v, void *out, int src, std::size_t bytes)
{
    unsigned lane;
    unsigned char *area = exchange_slot(&lane);
    std::memcpy(area + lane * XSLOT, v, bytes);
    warp_sync();
    if (src < 0 || (unsigned)src >= lanes_in_warp(cur, self->tid / 32))
        src = (int)lane;
    std::memcpy(out, area + (unsigned)src * XSLOT, bytes);
}

const unsigned char *warp_publish(const void *v, std::size_t bytes)
{
    unsigned lane;
    unsigned char *area = exchange_slot(&lane);
    if (bytes > XSLOT)
        std::abort(); /* a shim limit, not a kernel error */
    std::memcpy(area + lane * XSLOT, v, bytes);
    warp_sync();
    return area;
}


static void perform(const async_copy &c)
{
    std::memcpy(c.dst, c.src, (std::size_t)c.src_bytes);
    std::memset((unsigned char *)c.dst + c.src_bytes, 0, (std::size_t)(c.bytes - c.src_bytes));
}

void cp_async(void *dst, const void *src, int src_bytes, int bytes)
{
    if (cp_async_early)
        perform({dst, src, src_bytes, bytes});
    else
        self->copies.push_back({dst, src, src_bytes, bytes});
}

void cp_async_commit()
{
    self->groups.push_back(self->copies.size());
}

void cp_async_wait(int pending)
{
    std::vector<std::size_t> &g = self->groups;
    if ((std::size_t)pending >= g.size())
        return;
    std::size_t done_groups = g.size() - (std::size_t)pending, end = g[done_groups - 1];
    for (std::size_t i = 0; i < end; i++)
        perform(self->copies[i]);
    self->copies.erase(self->copies.begin(), self->copies.begin() + (std::ptrdiff_t)end);
    g.erase(g.begin(), g.begin() + (std::ptrdiff_t)done_groups);
    for (std::size_t &e : g)
        e -= end;
}

unsigned warp_ballot(int pred)
{
    unsigned lane;
    unsigned char *area = exchange_slot(&lane);
    area[lane * XSLOT] = pred ? 1 : 0;
    warp_sync();
    unsigned mask = 0;
    for (unsigned l = 0; l < lanes_in_warp(cur, self->tid / 32); l++)
        mask |= (unsigned)area[l * XSLOT] << l;
    return mask;
}

cudaError_t run_grid(dim3 grid, dim3 block, body_fn body, void *ctx)
{
    unsigned long long nt = (unsigned long long)block.x * block.y * block.z;
    if (nt == 0 || nt > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        last_error = cudaErrorInvalidConfiguration;
        return last_error;
    }
    std::lock_guard<std::mutex> one_launch(launch_mutex);
    if (want_threads < 0) {
        const char *e = std::getenv("OVX_CUDA_HOST");
        want_threads = e && !std::strcmp(e, "threads");
    }
    launch_state L;
    L.grid = grid;
    L.blk = block;
    L.nthreads = (unsigned)nt;
    L.nwarps = (L.nthreads + 31) / 32;
    L.body = body;
    L.ctx = ctx;
#ifdef OVX_HAVE_FIBERS
    L.fibers = !want_threads;
#else
    L.fibers = 0;
#endif
    L.lanes.resize(L.nthreads);
    for (block_set &s : L.sets) {
        s.warps.reset(new os_barrier[L.nwarps]);
        s.fwarps.resize(L.nwarps);
        s.exchange.assign((std::size_t)L.nwarps * 2 * 32 * XSLOT, 0);
    }
    rebuild(&L, L.sets[0]);
    int rc;
#ifdef OVX_HAVE_FIBERS
    if (L.fibers)
        rc = run_fibers(&L);
    else
#endif
        rc = run_threads(&L);
    if (rc)
        return last_error = cudaErrorLaunchFailure;
    return cudaSuccess;
}

} /* namespace ovx_host */
