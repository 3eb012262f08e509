/* Exact area-average downscaling of uint8 images (edged.area builds the tables).
 *
 * OpenCV's INTER_AREA has a SIMD path only for integer factors; 640x480 -> 224x224 (2.86 x
 * 2.14) takes its scalar float path, 4-6x slower than this. Here, per output row: the source
 * rows it covers are summed with integer weights into a uint16 row (a plain loop the compiler
 * vectorizes: NEON on a Pi, SSE2 on x86-64), then each output pixel sums its source columns
 * with integer weights, and the total is divided with correct rounding (half up). The scalar
 * path does that per row in integers, dividing by a multiply and a shift; the vector path
 * (GCC/Clang, below) 8 output rows at a time, in float where every value is an integer below
 * 2^24 (so exact), with an exact rounding. Either way the result is the exact overlap-
 * weighted mean, rounded, on every platform. The GIL is released while it runs.
 *
 * Tables (all C-contiguous): xs[dw] first source column of each output column, xw[dw*kx]
 * its weights (zero-padded); ys[dh], yw[dh*ky] likewise for rows. Weights are the overlaps
 * in units where a source pixel is dst/g wide and an output pixel src/g (g = gcd), so a row of
 * weights sums to Sx = src_w/g and the 2-D total is T = Sx*Sy. The caller guarantees
 * 255*Sy <= 65535 (uint16 rows), T < 2^19 (exact rounding below) and taps inside the image.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *src;
    Py_ssize_t src_rs;
    uint8_t *dst;
    Py_ssize_t dst_rs, dw, dh, ch, n, kx, ky;
    const int32_t *xs, *ys;
    const uint16_t *xw, *yw;
    uint16_t *row;  /* the caller's scratch: at least one row, maybe room for the vector path */
    size_t scratch;  /* its size in bytes */
    uint64_t mul;
    uint32_t total;
} Job;

/* floor((2a + T) / 2T) = round-half-up of a / T, by a multiply with ceil(2^48 / 2T) and a
 * shift. Exact while (2a + T) * 2T < 2^48: a <= 255 T, so for T < 2^19. */
static inline uint8_t rounded(uint32_t a, uint32_t total, uint64_t mul) {
    return (uint8_t)(((2 * (uint64_t)a + total) * mul) >> 48);
}

/* row (+)= the weighted sum of 1 to 3 source rows, in one pass (gcc -O3 unswitches the loop) */
static void add_rows(uint16_t *restrict row, Py_ssize_t n, const uint8_t *const *s,
                     const uint16_t *w, int taps, int first) {
    const uint8_t *restrict s0 = s[0], *restrict s1 = s[taps > 1], *restrict s2 = s[taps - 1];
    const uint16_t w0 = w[0], w1 = w[1], w2 = w[2];
    for (Py_ssize_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)((first ? 0 : row[i]) + w0 * s0[i]);
        if (taps > 1) v = (uint16_t)(v + w1 * s1[i]);
        if (taps > 2) v = (uint16_t)(v + w2 * s2[i]);
        row[i] = v;
    }
}

/* row = the weighted sum of output row r's source rows (zero weights, the padding of a
 * window of ky rows that holds every output's taps, skipped) */
static void sum_rows(const Job *j, Py_ssize_t r, uint16_t *restrict row) {
    const uint16_t *w = j->yw + r * j->ky;
    const uint8_t *s = j->src + (Py_ssize_t)j->ys[r] * j->src_rs;
    const uint8_t *taps[3];
    uint16_t weights[3] = {0, 0, 0};
    int m = 0, first = 1;
    for (Py_ssize_t t = 0; t < j->ky; t++) {
        if (!w[t]) continue;
        taps[m] = s + t * j->src_rs;
        weights[m++] = w[t];
        if (m == 3) {
            add_rows(row, j->n, taps, weights, m, first);
            first = m = 0;
        }
    }
    if (m)
        add_rows(row, j->n, taps, weights, m, first);
    else if (first)
        memset(row, 0, j->n * sizeof *row);  /* all weights zero: not from edged.area */
}

/* Compiled on its own: inlined into run(), gcc 12 -O3 made it 20% slower (0.36 against 0.30
 * ms for 640x480 -> 224x224, same run), its code depending on the argument checks' shape */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* 3 channels, up to 4 column taps (640 -> 224 and most model inputs from camera frames) */
static NOINLINE void sum_columns_rgb4(const Job *j, uint8_t *restrict d) {
    const uint16_t *row = j->row;
    const uint64_t mul = j->mul;
    const uint32_t total = j->total;
    for (Py_ssize_t c = 0; c < j->dw; c++) {
        const uint16_t *p = row + (Py_ssize_t)j->xs[c] * 3;
        const uint16_t *w = j->xw + c * 4;
        const uint32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        const uint32_t a0 = w0 * p[0] + w1 * p[3] + w2 * p[6] + w3 * p[9];
        const uint32_t a1 = w0 * p[1] + w1 * p[4] + w2 * p[7] + w3 * p[10];
        const uint32_t a2 = w0 * p[2] + w1 * p[5] + w2 * p[8] + w3 * p[11];
        d[3 * c] = rounded(a0, total, mul);
        d[3 * c + 1] = rounded(a1, total, mul);
        d[3 * c + 2] = rounded(a2, total, mul);
    }
}

/* 3 channels, any number of column taps (compiled on its own too: 10% faster, gcc 12) */
static NOINLINE void sum_columns_rgb(const Job *j, uint8_t *restrict d) {
    const Py_ssize_t kx = j->kx;
    const uint64_t mul = j->mul;
    const uint32_t total = j->total;
    for (Py_ssize_t c = 0; c < j->dw; c++) {
        const uint16_t *p = j->row + (Py_ssize_t)j->xs[c] * 3;
        const uint16_t *w = j->xw + c * kx;
        uint32_t a0 = 0, a1 = 0, a2 = 0;
        for (Py_ssize_t t = 0; t < kx; t++, p += 3) {
            const uint32_t wt = w[t];
            a0 += wt * p[0];
            a1 += wt * p[1];
            a2 += wt * p[2];
        }
        d[3 * c] = rounded(a0, total, mul);
        d[3 * c + 1] = rounded(a1, total, mul);
        d[3 * c + 2] = rounded(a2, total, mul);
    }
}

static void sum_columns(const Job *j, uint8_t *restrict d) {
    const Py_ssize_t ch = j->ch, kx = j->kx;
    for (Py_ssize_t c = 0; c < j->dw; c++) {
        const uint16_t *p = j->row + (Py_ssize_t)j->xs[c] * ch;
        const uint16_t *w = j->xw + c * kx;
        for (Py_ssize_t k = 0; k < ch; k++) {
            uint32_t a = 0;
            for (Py_ssize_t t = 0; t < kx; t++) a += (uint32_t)w[t] * p[t * ch + k];
            d[c * ch + k] = rounded(a, j->total, j->mul);
        }
    }
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define AREA_LANES 1
#include <stdlib.h>

/* Eight output rows at a time, one row per lane of a vector: GCC/Clang vector extensions,
 * compiled to SSE2 on x86-64 and NEON on aarch64 from this one source. Row sums are
 * transposed so that each source column (times channel) is one vector of 8 rows; the column
 * pass then needs no gathers, and the results are transposed back into the output rows. */
typedef uint8_t v8u8 __attribute__((vector_size(8)));
typedef uint16_t v8u16 __attribute__((vector_size(16)));
typedef uint32_t v4u32 __attribute__((vector_size(16)));
typedef uint64_t v2u64 __attribute__((vector_size(16)));
typedef int32_t v4i32 __attribute__((vector_size(16)));
typedef float v4f32 __attribute__((vector_size(16)));

#if defined(__clang__)
#define SHUFFLE(m, a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUFFLE(m, a, b, ...) __builtin_shuffle(a, b, (m){__VA_ARGS__})
#endif
#define ZIP16(a, b, h) SHUFFLE(v8u16, a, b, 4*h, 4*h+8, 4*h+1, 4*h+9, 4*h+2, 4*h+10, 4*h+3, 4*h+11)
#define ZIP32(a, b, h) (v8u16)SHUFFLE(v4u32, (v4u32)(a), (v4u32)(b), 2*h, 2*h+4, 2*h+1, 2*h+5)
#define ZIP64(a, b, h) (v8u16)SHUFFLE(v2u64, (v2u64)(a), (v2u64)(b), h, h+2)

/* The vector path's limits: every sum and product is an integer below 2^24 (255 T), exact in
 * float, and so is q T for the rounding's check (q <= 256). */
#define LANES_MAX_TOTAL 65535u
#define LANES_MAX_KX 16

/* v[k][i] -> v[i][k] */
static inline void transpose8(v8u16 v[8]) {
    v8u16 a[8], b[8];
    for (int k = 0; k < 8; k += 2) {
        a[k] = ZIP16(v[k], v[k + 1], 0);
        a[k + 1] = ZIP16(v[k], v[k + 1], 1);
    }
    for (int k = 0; k < 8; k += 4)
        for (int h = 0; h < 2; h++) {
            b[k + 2 * h] = ZIP32(a[k + h], a[k + h + 2], 0);
            b[k + 2 * h + 1] = ZIP32(a[k + h], a[k + h + 2], 1);
        }
    for (int k = 0; k < 4; k++) {
        v[2 * k] = ZIP64(b[k], b[k + 4], 0);
        v[2 * k + 1] = ZIP64(b[k], b[k + 4], 1);
    }
}

typedef struct {
    v4f32 inv, bias, t, half;  /* 1/T, 1/2 - 2^-12, T, T/2 */
} Divisor;

/* round-half-up of a / T = floor((a + T/2) / T), a an integer below 2^24 and T <= 65535.
 * q = floor(a/T + 1/2 - 2^-12) in float is that or one less (the float error is below 2^-14
 * and the exact quotient is at least 1/2T below the next integer); q + 1 is right iff
 * a - qT >= T/2, which is exact in float: a and qT are integers below 2^24. */
static inline v4i32 round4(v4f32 a, const Divisor *dv) {
    const v4i32 q = __builtin_convertvector(a * dv->inv + dv->bias, v4i32);
    const v4f32 rest = a - __builtin_convertvector(q, v4f32) * dv->t;
    return q - (rest >= dv->half);  /* a true comparison is -1 */
}

static Divisor divisor(uint32_t total) {
    const float t = (float)total;
    return (Divisor){(v4f32){0} + 1.0f / t, (v4f32){0} + (0.5f - 1.0f / 4096), (v4f32){0} + t,
                     (v4f32){0} + t / 2};
}

static inline v4f32 load4(const float *p) {
    v4f32 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 8 row sums rows[k*n + i] -> lanes[8i .. 8i+8) as floats: rows 0, 2, 4, 6 then 1, 3, 5, 7
 * (the even and odd halves of the 32-bit words of a transposed vector) */
static void to_lanes(const uint16_t *rows, Py_ssize_t n, float *lanes) {
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8u16 v[8];
        for (int k = 0; k < 8; k++) memcpy(&v[k], rows + k * n + i, sizeof v[k]);
        transpose8(v);
        for (int c = 0; c < 8; c++) {
            const v4u32 w = (v4u32)v[c];
            const v4f32 even = __builtin_convertvector((v4i32)(w & 0xffff), v4f32);
            const v4f32 odd = __builtin_convertvector((v4i32)(w >> 16), v4f32);
            memcpy(lanes + 8 * (i + c), &even, sizeof even);
            memcpy(lanes + 8 * (i + c) + 4, &odd, sizeof odd);
        }
    }
    for (; i < n; i++)
        for (int k = 0; k < 8; k++) lanes[8 * i + (k & 1) * 4 + k / 2] = rows[k * n + i];
}

/* out[8m .. 8m+8) = the 8 rows' rounded means of output value m (= column * ch + channel) */
static inline __attribute__((always_inline)) void lane_columns(
    const Job *j, const float *lanes, const float *wf, uint16_t *out, Py_ssize_t ch,
    Py_ssize_t kx) {
    const Divisor dv = divisor(j->total);
    const int32_t *xs = j->xs;
    const Py_ssize_t dw = j->dw;
    v4f32 w[LANES_MAX_KX];
    for (Py_ssize_t c = 0; c < dw; c++) {
        for (Py_ssize_t t = 0; t < kx; t++) {
            const float x = wf[c * kx + t];
            w[t] = (v4f32){x, x, x, x};
        }
        const float *first = lanes + 8 * (Py_ssize_t)xs[c] * ch;
        for (Py_ssize_t k = 0; k < ch; k++) {
            const float *p = first + 8 * k;
            v4f32 even = w[0] * load4(p), odd = w[0] * load4(p + 4);
            for (Py_ssize_t t = 1; t < kx; t++) {
                even += w[t] * load4(p + 8 * ch * t);
                odd += w[t] * load4(p + 8 * ch * t + 4);
            }
            const v4u32 q = (v4u32)round4(even, &dv) | (v4u32)round4(odd, &dv) << 16;
            memcpy(out + 8 * (c * ch + k), &q, sizeof q);
        }
    }
}

/* 3 channels, 4 column taps, and the rest (column weights wf in float) */
static NOINLINE void lane_columns_rgb4(const Job *j, const float *l, const float *wf, uint16_t *o) {
    lane_columns(j, l, wf, o, 3, 4);
}

static NOINLINE void lane_columns_any(const Job *j, const float *l, const float *wf, uint16_t *o) {
    lane_columns(j, l, wf, o, j->ch, j->kx);
}

/* out (8 values per output value) -> 8 output rows from d */
static void from_lanes(const uint16_t *out, Py_ssize_t m, uint8_t *d, Py_ssize_t rs) {
    Py_ssize_t i = 0;
    for (; i + 8 <= m; i += 8) {
        v8u16 v[8];
        memcpy(v, out + 8 * i, sizeof v);
        transpose8(v);
        for (int k = 0; k < 8; k++) {
            const v8u8 b = __builtin_convertvector(v[k], v8u8);
            memcpy(d + k * rs + i, &b, sizeof b);
        }
    }
    for (; i < m; i++)
        for (int k = 0; k < 8; k++) d[k * rs + i] = (uint8_t)out[8 * i + k];
}

static size_t padded(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* Memory the vector path needs for n values per source row, m per output row, dw x kx
 * column weights; 64 more so that a caller's buffer can be aligned */
static size_t lanes_bytes(Py_ssize_t n, Py_ssize_t m, Py_ssize_t dw, Py_ssize_t kx) {
    return padded(8 * n * sizeof(uint16_t)) + padded(8 * n * sizeof(float)) + padded(16 * m) +
           padded(4 * dw * kx) + 64;
}

/* The output rows in blocks of 8; returns how many rows it did (the rest: the scalar path).
 * It works in the caller's scratch when that is large enough (edged.area makes it so: no
 * allocation per frame), else in memory of its own. */
static NOINLINE Py_ssize_t run_lanes(const Job *j) {
    const Py_ssize_t n = j->n, m = j->dw * j->ch, blocks = j->dh / 8;
    if (j->total > LANES_MAX_TOTAL || j->kx > LANES_MAX_KX || blocks == 0) return 0;
    const size_t rows_size = padded(8 * n * sizeof(uint16_t)),
                 lanes_size = padded(8 * n * sizeof(float)), out_size = padded(16 * m),
                 need = lanes_bytes(n, m, j->dw, j->kx);
    char *own = NULL, *mem;
    if (j->scratch >= need) {
        mem = (char *)j->row + (64 - (uintptr_t)j->row % 64) % 64;
    } else {
        mem = own = aligned_alloc(64, need - 64);
        if (!own) return 0;  /* the scalar path needs no more memory */
    }
    uint16_t *rows = (uint16_t *)mem, *out = (uint16_t *)(mem + rows_size + lanes_size);
    float *lanes = (float *)(mem + rows_size), *wf = (float *)((char *)out + out_size);
    for (Py_ssize_t i = 0; i < j->dw * j->kx; i++) wf[i] = j->xw[i];
    for (Py_ssize_t b = 0; b < blocks; b++) {
        for (int k = 0; k < 8; k++) sum_rows(j, 8 * b + k, rows + k * n);
        to_lanes(rows, n, lanes);
        if (j->ch == 3 && j->kx == 4)
            lane_columns_rgb4(j, lanes, wf, out);
        else
            lane_columns_any(j, lanes, wf, out);
        from_lanes(out, m, j->dst + 8 * b * j->dst_rs, j->dst_rs);
    }
    free(own);
    return 8 * blocks;
}
#endif

static void run(const Job *j) {
    Py_ssize_t r = 0;
#if AREA_LANES
    r = run_lanes(j);
#endif
    for (; r < j->dh; r++) {
        uint8_t *d = j->dst + r * j->dst_rs;
        sum_rows(j, r, j->row);
        if (j->ch == 3 && j->kx == 4)
            sum_columns_rgb4(j, d);
        else if (j->ch == 3)
            sum_columns_rgb(j, d);
        else
            sum_columns(j, d);
    }
}

static int check(int ok, const char *what) {
    if (!ok) PyErr_Format(PyExc_ValueError, "edged._area.resize: %s", what);
    return ok;
}

/* resize(src, dst, xs, xw, ys, yw, scratch, total): src HxWxC uint8 (rows may be strided,
 * pixels contiguous), dst hxwxC likewise and writable, scratch a writable buffer of at least
 * 2*W*C bytes (one uint16 row), of scratch_bytes(...) to spare the vector path an allocation. */
static PyObject *resize(PyObject *self, PyObject *args) {
    (void)self;
    enum { SRC, DST, XS, XW, YS, YW, ROW, N };
    PyObject *o[N];
    unsigned long total;
    if (!PyArg_ParseTuple(args, "OOOOOOOk", &o[SRC], &o[DST], &o[XS], &o[XW], &o[YS], &o[YW],
                          &o[ROW], &total))
        return NULL;
    const int flags[N] = {PyBUF_STRIDED_RO, PyBUF_STRIDED, PyBUF_C_CONTIGUOUS,
                          PyBUF_C_CONTIGUOUS, PyBUF_C_CONTIGUOUS, PyBUF_C_CONTIGUOUS,
                          PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE};
    Py_buffer b[N];
    int got = 0, ok = 0;
    for (; got < N; got++)
        if (PyObject_GetBuffer(o[got], &b[got], flags[got]) < 0) goto done;
    if (!check(b[SRC].ndim == 3 && b[DST].ndim == 3 && b[SRC].itemsize == 1 &&
               b[DST].itemsize == 1, "need HxWxC uint8 images"))
        goto done;
    const Py_ssize_t dh = b[DST].shape[0], dw = b[DST].shape[1], ch = b[DST].shape[2];
    if (!check(dh > 0 && dw > 0 && ch > 0 && b[SRC].shape[2] == ch && b[SRC].shape[0] > 0 &&
               b[SRC].shape[1] > 0, "empty image or channel counts differ") ||
        !check(b[SRC].strides[2] == 1 && b[SRC].strides[1] == ch && b[DST].strides[2] == 1 &&
               b[DST].strides[1] == ch, "pixels must be contiguous") ||
        !check(b[XS].len == dw * 4 && b[YS].len == dh * 4 && b[XW].len % (dw * 2) == 0 &&
               b[YW].len % (dh * 2) == 0 && b[XW].len > 0 && b[YW].len > 0,
               "tables do not match the output size") ||
        !check(b[ROW].len >= b[SRC].shape[1] * ch * 2, "row buffer too small") ||
        !check(total > 0 && total < (1ul << 19), "total weight out of range"))
        goto done;
    Job j = {
        .src = b[SRC].buf, .src_rs = b[SRC].strides[0], .dst = b[DST].buf,
        .dst_rs = b[DST].strides[0], .dw = dw, .dh = dh, .ch = ch, .n = b[SRC].shape[1] * ch,
        .xs = b[XS].buf, .ys = b[YS].buf, .xw = b[XW].buf, .yw = b[YW].buf,
        .kx = b[XW].len / (dw * 2), .ky = b[YW].len / (dh * 2), .row = b[ROW].buf,
        .scratch = (size_t)b[ROW].len, .total = (uint32_t)total,
    };
    j.mul = ((1ull << 48) + 2 * (uint64_t)total - 1) / (2 * (uint64_t)total);
    for (Py_ssize_t c = 0; c < dw; c++)
        if (!check(j.xs[c] >= 0 && j.xs[c] + j.kx <= b[SRC].shape[1], "column tap outside the image")) goto done;
    for (Py_ssize_t r = 0; r < dh; r++)
        if (!check(j.ys[r] >= 0 && j.ys[r] + j.ky <= b[SRC].shape[0], "row tap outside the image")) goto done;
    Py_BEGIN_ALLOW_THREADS
    run(&j);
    Py_END_ALLOW_THREADS
    ok = 1;
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* _round(a, out, total): out[i] = a[i] / total rounded half up (a: uint32, each at most
 * 255 total; out: uint8), by the rounding the kernel uses for that total. For the tests. */
static PyObject *round_for_test(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer a, out;
    unsigned long total;
    if (!PyArg_ParseTuple(args, "y*w*k", &a, &out, &total)) return NULL;
    const uint32_t *v = a.buf;
    uint8_t *d = out.buf;
    const Py_ssize_t n = a.len / 4;
    int ok = check(a.len % 4 == 0 && out.len == n, "need uint32 values and as many bytes") &&
             check(total > 0 && total < (1ul << 19), "total weight out of range");
    for (Py_ssize_t i = 0; ok && i < n; i++) ok = check(v[i] <= 255 * total, "value too large");
    if (ok) {
        const uint64_t mul = ((1ull << 48) + 2 * (uint64_t)total - 1) / (2 * (uint64_t)total);
        Py_ssize_t i = 0;
#if AREA_LANES
        const Divisor dv = divisor((uint32_t)total);
        for (; total <= LANES_MAX_TOTAL && i + 4 <= n; i += 4) {
            const v4i32 q = round4((v4f32){v[i], v[i + 1], v[i + 2], v[i + 3]}, &dv);
            for (int k = 0; k < 4; k++) d[i + k] = (uint8_t)q[k];
        }
#endif
        for (; i < n; i++) d[i] = rounded(v[i], (uint32_t)total, mul);
    }
    PyBuffer_Release(&a);
    PyBuffer_Release(&out);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

/* scratch_bytes(width, channels, dw, kx): the scratch resize wants for a source row of
 * width x channels, dw output columns and kx column taps */
static PyObject *scratch_bytes(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t w, ch, dw, kx;
    if (!PyArg_ParseTuple(args, "nnnn", &w, &ch, &dw, &kx)) return NULL;
    if (!check(w > 0 && ch > 0 && dw > 0 && kx > 0 && w <= (1 << 20) && ch <= 64 &&
               dw <= w && kx <= w, "sizes out of range"))
        return NULL;
    size_t bytes = (size_t)(2 * w * ch);
#if AREA_LANES
    const size_t lanes = lanes_bytes(w * ch, dw * ch, dw, kx);
    if (kx <= LANES_MAX_KX && lanes > bytes) bytes = lanes;
#endif
    return PyLong_FromSize_t(bytes);
}

static PyMethodDef methods[] = {
    {"resize", resize, METH_VARARGS, "Exact area-average resize of a uint8 image (see edged.area)."},
    {"scratch_bytes", scratch_bytes, METH_VARARGS, "Scratch bytes resize wants (see edged.area)."},
    {"_round", round_for_test, METH_VARARGS, "The kernel's rounding of a / total (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "edged._area", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__area(void) { return PyModule_Create(&module); }
