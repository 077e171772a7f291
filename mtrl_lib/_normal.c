/* mtrl_lib._normal: the training loop's Gaussian draw, compiled.

   fill(buffer, seed) fills a writable C-contiguous float32 or float64 buffer with independent N(0, 1) values
   determined by the 64-bit seed alone. mtrl_lib.tasks.gaussian_ calls it once per block, from several threads
   (the GIL is released while it runs).

   Why a compiled generator: PyTorch's CPU normal_ draws its uniforms one at a time from a single mt19937
   (about 3.4 ns per sample on the project's 2-core machine, 40% of a training round). This one runs eight
   xoshiro256++ streams side by side and a branch-free Box-Muller transform, which the compiler vectorises:
   about 1.3 ns per sample on the same machine.

   The algorithm (tests/normal_reference.py restates it in NumPy, and tests/test_normal.py checks that the two agree
   bit for bit):
     - streams: L = 8 xoshiro256++ generators; stream j's state is the splitmix64 outputs 4j .. 4j + 3 of the
       seed (the seeding its authors recommend).
     - pairs: the buffer's n values come from P = ceil(n / 2) pairs; pair k takes the next 64-bit output r of
       stream k mod L. With h = r >> 32 and l = r & (2^32 - 1):
         u1 = (h + 1/2) 2^-32 in (0, 1),  u2 = l 2^-32 in [0, 1),
         z_{2k} = R cos(2 pi u2),  z_{2k+1} = R sin(2 pi u2),  R = sqrt(-2 ln u1)
       (Box-Muller: the two are independent N(0, 1)); an odd n drops the last sine.
     - arithmetic: double precision, then rounded once to the buffer's type. ln, cos and sin are written here
       with +, -, *, / and sqrt only (series below), and the build turns off contraction into fused
       multiply-adds (-ffp-contract=off), so every IEEE-754 machine and every vector width gives the same bits:
       the values depend on the seed, never on the CPU, the compiler's vectorisation or the thread count.
     - ln u1: u1 = 2^e m with m in [sqrt(1/2), sqrt(2)) from the exponent bits; ln m = 2 atanh(s),
       s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^21 (next term below 1e-17 relative);
       ln u1 = e ln 2 + ln m.
     - cos and sin of 2 pi u2: the nearest quarter turn q = round(4 u2) comes from the integer l, so the
       remainder f = u2 - q / 4 in [-1/8, 1/8] is exact; x = 2 pi f, |x| <= pi / 4, and the Taylor series of
       cos x and sin x to x^20 and x^21 (next term below 1e-19); the quadrant q mod 4 then rotates (cos, sin).
     - tails: |z| <= sqrt(2 ln 2^33) = 6.76, as u1 >= 2^-33 (PyTorch's float32 normal_ stops at 5.6).
*/
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#define L 8          /* interleaved streams: one 512-bit vector of 64-bit states */
#define CHUNK 64     /* pairs per pass: a multiple of L, small enough to stay in registers and L1 */

/* one 64-bit lane per stream; GCC's vector extension keeps the eight streams in one register where the CPU has
   512-bit vectors and splits them where it has not (integer operations: the bits are the same either way) */
typedef uint64_t lanes __attribute__((vector_size(8 * L)));
typedef struct { lanes s0, s1, s2, s3; } streams;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void seed_streams(streams *st, uint64_t seed) {
    uint64_t x = seed;
    for (int j = 0; j < L; j++) {
        st->s0[j] = splitmix64(&x); st->s1[j] = splitmix64(&x);
        st->s2[j] = splitmix64(&x); st->s3[j] = splitmix64(&x);
    }
}

/* the next output of every stream (xoshiro256++): lane j is stream j's */
static inline lanes next_words(streams *st) {
    lanes s0 = st->s0, s1 = st->s1, s2 = st->s2, s3 = st->s3;
    lanes sum = s0 + s3;
    lanes r = ((sum << 23) | (sum >> 41)) + s0;
    lanes t = s1 << 17;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 45) | (s3 >> 19);
    st->s0 = s0; st->s1 = s1; st->s2 = s2; st->s3 = s3;
    return r;
}

static const double LN2 = 0.693147180559945309417232121458176568;
static const double SQRT2 = 1.41421356237309504880168872420969808;
static const double TWO_PI = 6.28318530717958647692528676655900577;

/* ln u for u in (0, 1) a normal double (here u >= 2^-33) */
static inline double ln_unit(double u) {
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int64_t e = (int64_t)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;     /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    int64_t big = m >= SQRT2;
    m = big ? 0.5 * m : m;                                             /* m in [sqrt(1/2), sqrt(2)) */
    e += big;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    /* 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ... + s^20/21), Horner in s^2 */
    double p = 1.0 / 21.0;
    p = p * s2 + 1.0 / 19.0; p = p * s2 + 1.0 / 17.0; p = p * s2 + 1.0 / 15.0; p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0; p = p * s2 + 1.0 / 9.0;  p = p * s2 + 1.0 / 7.0;  p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;  p = p * s2 + 1.0;
    return (double)e * LN2 + 2.0 * s * p;
}

/* (cos, sin) of 2 pi l 2^-32 */
static inline void cos_sin_turn(uint64_t l, double *c_out, double *s_out) {
    int64_t q = (int64_t)((l + (1ULL << 29)) >> 30);                 /* nearest quarter turn, 0 .. 4 */
    double f = (double)((int64_t)l - (q << 30)) * 0x1p-32;            /* exact, in [-1/8, 1/8] */
    double x = TWO_PI * f, x2 = x * x;
    /* cos x = 1 - x^2/2! + ... + x^20/20!,  sin x = x (1 - x^2/3! + ... + x^20/21!) */
    double c = 1.0 / 2432902008176640000.0;                             /* 1/20! */
    c = c * x2 - 1.0 / 6402373705728000.0; c = c * x2 + 1.0 / 20922789888000.0;
    c = c * x2 - 1.0 / 87178291200.0;      c = c * x2 + 1.0 / 479001600.0;
    c = c * x2 - 1.0 / 3628800.0;          c = c * x2 + 1.0 / 40320.0;
    c = c * x2 - 1.0 / 720.0;              c = c * x2 + 1.0 / 24.0;
    c = c * x2 - 1.0 / 2.0;                c = c * x2 + 1.0;
    double s = 1.0 / 51090942171709440000.0;                            /* 1/21! */
    s = s * x2 - 1.0 / 121645100408832000.0; s = s * x2 + 1.0 / 355687428096000.0;
    s = s * x2 - 1.0 / 1307674368000.0;      s = s * x2 + 1.0 / 6227020800.0;
    s = s * x2 - 1.0 / 39916800.0;           s = s * x2 + 1.0 / 362880.0;
    s = s * x2 - 1.0 / 5040.0;               s = s * x2 + 1.0 / 120.0;
    s = s * x2 - 1.0 / 6.0;                  s = s * x2 + 1.0;
    s = s * x;
    int64_t k = q & 3;                          /* rotate by k quarter turns: (c, s) -> (-s, c) per turn */
    double cc = (k == 0) ? c : (k == 1) ? -s : (k == 2) ? -c : s;
    double ss = (k == 0) ? s : (k == 1) ? c : (k == 2) ? -s : -c;
    *c_out = cc; *s_out = ss;
}

/* CHUNK pairs into z[0 .. 2 CHUNK): (R cos, R sin) per pair */
static inline void chunk_pairs(streams *restrict st, double *restrict z) {
    uint64_t r[CHUNK];
    for (int i = 0; i < CHUNK; i += L) {
        lanes w = next_words(st);
        memcpy(r + i, &w, sizeof w);
    }
    for (int i = 0; i < CHUNK; i++) {
        double u1 = ((double)(int64_t)(r[i] >> 32) + 0.5) * 0x1p-32;
        double R = sqrt(-2.0 * ln_unit(u1));
        double c, s;
        cos_sin_turn(r[i] & 0xffffffffULL, &c, &s);
        z[2 * i] = R * c;
        z[2 * i + 1] = R * s;
    }
}

#define FILL_BODY(T)                                                                        \
    streams st;                                                                             \
    double z[2 * CHUNK];                                                                    \
    seed_streams(&st, seed);                                                                \
    Py_ssize_t done = 0;                                                                    \
    while (done < n) {                                                                      \
        chunk_pairs(&st, z);                                                                \
        Py_ssize_t take = n - done < 2 * CHUNK ? n - done : 2 * CHUNK;                     \
        for (Py_ssize_t i = 0; i < take; i++)                                               \
            out[done + i] = (T)z[i];                                                        \
        done += take;                                                                       \
    }

/* the clones give the same bits (no contraction, no reassociation); they only pick the vector width */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void fill_f32(float *restrict out, Py_ssize_t n, uint64_t seed) { FILL_BODY(float) }

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void fill_f64(double *restrict out, Py_ssize_t n, uint64_t seed) { FILL_BODY(double) }

static PyObject *fill(PyObject *self, PyObject *args) {
    PyObject *obj;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OK", &obj, &seed))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) != 0)
        return NULL;
    int f32 = view.itemsize == 4 && strcmp(view.format, "f") == 0;
    int f64 = view.itemsize == 8 && strcmp(view.format, "d") == 0;
    if (!f32 && !f64) {
        PyErr_Format(PyExc_TypeError, "fill: buffer must hold float32 or float64, got format '%s'", view.format);
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t n = view.len / view.itemsize;
    Py_BEGIN_ALLOW_THREADS
    if (f32)
        fill_f32((float *)view.buf, n, (uint64_t)seed);
    else
        fill_f64((double *)view.buf, n, (uint64_t)seed);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS,
     "fill(buffer, seed): fill a writable C-contiguous float32 or float64 buffer with N(0, 1) values that depend\n"
     "on the 64-bit seed alone (xoshiro256++ streams and Box-Muller; see mtrl_lib/_normal.c)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_normal", "The training loop's Gaussian draw.", -1,
                                    methods};

#ifndef MTRL_NORMAL_SOURCE_SHA256
#define MTRL_NORMAL_SOURCE_SHA256 "unknown"
#endif

PyMODINIT_FUNC PyInit__normal(void) {
    PyObject *m = PyModule_Create(&module);
    /* the sha256 of the source this was built from (setup.py): mtrl_lib.tasks refuses a stale build */
    if (m && PyModule_AddStringConstant(m, "source_sha256", MTRL_NORMAL_SOURCE_SHA256) != 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
