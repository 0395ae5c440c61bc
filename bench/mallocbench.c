/* bench/malloc_overhead.sh's JNI library: malloc/free churn as a native library does it (a codec,
 * a parser): each call makes N allocations of 16 B..4 KiB, each replacing (freeing) one of a
 * window of 64 live blocks chosen at random; with `fill`, each block is written whole (as a codec
 * fills its buffers), else only its first and last byte. Built by the script with cc. */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

JNIEXPORT jlong JNICALL Java_MallocBench_churn(JNIEnv *env, jclass cls, jint n, jlong seed, jboolean fill) {
    (void) env;
    (void) cls;
    void *window[64] = {0};
    uint64_t x = (uint64_t) seed | 1;
    jlong sum = 0;
    for (jint i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t size = 16 + (size_t) (x % 4080);
        unsigned k = (unsigned) (x >> 32) & 63;
        free(window[k]);
        char *p = malloc(size);
        if (p != NULL && fill) {
            memset(p, (int) (x & 0xff), size);
        } else if (p != NULL) {
            p[0] = 1;
            p[size - 1] = 2;
        }
        window[k] = p;
        sum += (jlong) size;
    }
    for (int k = 0; k < 64; k++) {
        free(window[k]);
    }
    return sum;
}
