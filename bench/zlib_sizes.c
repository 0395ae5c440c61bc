/*
 * Measures the malloc footprint of one zlib stream as the JDK creates it, by calling the JDK's
 * own natives in libzip.so (Java_java_util_zip_Inflater_init, ..._inflateBytesBytes,
 * Java_java_util_zip_Deflater_init) outside a JVM and reading glibc's mallinfo2() before and
 * after N streams. A fake JNIEnv serves the only JNI calls the success paths make
 * (Get/ReleasePrimitiveArrayCritical); any other JNI call aborts loudly.
 *
 *   cc -O2 -I$JAVA_HOME/include -I$JAVA_HOME/include/linux bench/zlib_sizes.c -o /tmp/zlib_sizes -ldl -lz
 *   LD_LIBRARY_PATH=$JAVA_HOME/lib/server:$JAVA_HOME/lib /tmp/zlib_sizes $JAVA_HOME/lib/libzip.so
 * (libzip.so needs libjvm.so and libjava.so on the library path; the system zlib linked here only
 * makes the test input.) Results are in docs/native-ledger.md.
 *
 * Prints bytes per stream for: Inflater after init, Inflater after inflating output (zlib then
 * allocates its 32 KiB window), Deflater after init (deflateInit2 allocates everything at once).
 */
#include <dlfcn.h>
#include <jni.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define N 2000

static void bad_jni(void) {
    fprintf(stderr, "zlib_sizes: the native made an unexpected JNI call\n");
    abort();
}
static void *get_critical(JNIEnv *env, jarray array, jboolean *copy) {
    (void)env;
    if (copy) *copy = JNI_FALSE;
    return (void *)array; /* our "arrays" are plain C buffers */
}
static void release_critical(JNIEnv *env, jarray array, void *carray, jint mode) {
    (void)env; (void)array; (void)carray; (void)mode;
}

static size_t in_use(void) { return mallinfo2().uordblks; }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s /path/to/libzip.so\n", argv[0]); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    jlong (*inf_init)(JNIEnv *, jclass, jboolean) = dlsym(lib, "Java_java_util_zip_Inflater_init");
    jlong (*inf_bb)(JNIEnv *, jobject, jlong, jarray, jint, jint, jarray, jint, jint) =
        dlsym(lib, "Java_java_util_zip_Inflater_inflateBytesBytes");
    void (*inf_end)(JNIEnv *, jclass, jlong) = dlsym(lib, "Java_java_util_zip_Inflater_end");
    jlong (*def_init)(JNIEnv *, jclass, jint, jint, jboolean) = dlsym(lib, "Java_java_util_zip_Deflater_init");
    void (*def_end)(JNIEnv *, jclass, jlong) = dlsym(lib, "Java_java_util_zip_Deflater_end");
    if (!inf_init || !inf_bb || !inf_end || !def_init || !def_end) { fprintf(stderr, "missing symbols\n"); return 1; }

    struct JNINativeInterface_ fns;
    void **slot = (void **)&fns;
    for (size_t i = 0; i < sizeof fns / sizeof(void *); i++) slot[i] = (void *)bad_jni;
    fns.GetPrimitiveArrayCritical = get_critical;
    fns.ReleasePrimitiveArrayCritical = release_critical;
    const struct JNINativeInterface_ *table = &fns;
    JNIEnv *env = (JNIEnv *)&table;

    /* A raw deflate stream (as in a jar entry) of 64 KiB of text, made with the system zlib. */
    static unsigned char plain[65536], packed[70000], out[65536];
    for (size_t i = 0; i < sizeof plain; i++) plain[i] = "leakagent zlib size probe "[i % 26] + (i / 997) % 3;
    z_stream z; memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    z.next_in = plain; z.avail_in = sizeof plain; z.next_out = packed; z.avail_out = sizeof packed;
    deflate(&z, Z_FINISH);
    int packed_len = (int)(sizeof packed - z.avail_out);
    deflateEnd(&z);

    static jlong a[N];
    mallopt(M_MMAP_THRESHOLD, 1 << 30); /* keep every block in the heap, where mallinfo counts it */
    size_t base = in_use();
    for (int i = 0; i < N; i++) a[i] = inf_init(env, NULL, JNI_TRUE);
    size_t after_init = in_use();
    for (int i = 0; i < N; i++) inf_bb(env, NULL, a[i], (jarray)packed, 0, packed_len, (jarray)out, 0, sizeof out);
    size_t after_use = in_use();
    for (int i = 0; i < N; i++) inf_end(env, NULL, a[i]);
    size_t after_end = in_use();
    for (int i = 0; i < N; i++) a[i] = def_init(env, NULL, 6, 0, JNI_TRUE);
    size_t after_def = in_use();
    for (int i = 0; i < N; i++) def_end(env, NULL, a[i]);
    size_t after_def_end = in_use();
    printf("libzip: %s\n", argv[1]);
    printf("inflater_init_bytes=%zu\n", (after_init - base) / N);
    printf("inflater_used_bytes=%zu\n", (after_use - base) / N);
    printf("deflater_bytes=%zu\n", (after_def - after_end) / N);
    printf("leftover_after_end=%zd\n", (ssize_t)(after_def_end - base) / N);
    return 0;
}
