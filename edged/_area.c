/* Exact area-average downscaling of uint8 images (edged.area builds the tables).
 *
 * OpenCV's INTER_AREA has a SIMD path only for integer factors; 640x480 -> 224x224 (2.86 x
 * 2.14) takes its scalar float path, 4-6x slower than this. Here, per output row: the source
 * rows it covers are summed with integer weights into a uint16 row (a plain loop the compiler
 * vectorizes: NEON on a Pi, SSE2 on x86-64), then each output pixel sums its source columns
 * with integer weights, and the total is divided with correct rounding (half up) by a
 * multiply and a shift. Integer arithmetic throughout: the result is the exact overlap-
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

typedef struct {
    const uint8_t *src;
    Py_ssize_t src_rs;
    uint8_t *dst;
    Py_ssize_t dst_rs, dw, dh, ch, n, kx, ky;
    const int32_t *xs, *ys;
    const uint16_t *xw, *yw;
    uint16_t *row;
    uint64_t mul;
    uint32_t total;
} Job;

/* floor((2a + T) / 2T) = round-half-up of a / T, by a multiply with ceil(2^48 / 2T) and a
 * shift. Exact while (2a + T) * 2T < 2^48: a <= 255 T, so for T < 2^19. */
static inline uint8_t rounded(uint32_t a, uint32_t total, uint64_t mul) {
    return (uint8_t)(((2 * (uint64_t)a + total) * mul) >> 48);
}

static void sum_rows(const Job *j, Py_ssize_t r) {
    const uint16_t *w = j->yw + r * j->ky;
    const uint8_t *s = j->src + (Py_ssize_t)j->ys[r] * j->src_rs;
    uint16_t *restrict row = j->row;
    const Py_ssize_t n = j->n;
    const uint16_t w0 = w[0];
    const uint8_t *restrict s0 = s;
    for (Py_ssize_t i = 0; i < n; i++) row[i] = (uint16_t)(w0 * s0[i]);
    for (Py_ssize_t t = 1; t < j->ky; t++) {
        const uint16_t wt = w[t];
        const uint8_t *restrict st = s + t * j->src_rs;
        if (!wt) continue;  /* padding: a window of ky rows holds every output's taps */
        for (Py_ssize_t i = 0; i < n; i++) row[i] = (uint16_t)(row[i] + wt * st[i]);
    }
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

/* 3 channels, any number of column taps */
static void sum_columns_rgb(const Job *j, uint8_t *restrict d) {
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

static void run(const Job *j) {
    for (Py_ssize_t r = 0; r < j->dh; r++) {
        uint8_t *d = j->dst + r * j->dst_rs;
        sum_rows(j, r);
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

/* resize(src, dst, xs, xw, ys, yw, row, total): src HxWxC uint8 (rows may be strided, pixels
 * contiguous), dst hxwxC likewise and writable, row a writable uint16 buffer of W*C. */
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
        .total = (uint32_t)total,
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

static PyMethodDef methods[] = {
    {"resize", resize, METH_VARARGS, "Exact area-average resize of a uint8 image (see edged.area)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "edged._area", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__area(void) { return PyModule_Create(&module); }
