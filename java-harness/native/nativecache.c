/* The JNI library of the native-cache scenario: a "cache" whose entries are malloc'd by native
 * code. put() mallocs and fills a block and returns its address; remove() frees it. The leaky
 * variant never calls remove(). Built by java-harness/build.sh with cc into
 * build/native/libnativecache.so, with frame pointers (as most native code profiled is). */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

JNIEXPORT jlong JNICALL Java_leakagent_harness_scenarios_NativeCache_put(JNIEnv *env, jclass cls, jint size) {
    (void) env;
    (void) cls;
    char *p = malloc((size_t) size);
    if (p != NULL) {
        /* touch every byte so the memory is resident */
        memset(p, 0x5a, (size_t) size);
    }
    return (jlong) (intptr_t) p;
}

JNIEXPORT void JNICALL Java_leakagent_harness_scenarios_NativeCache_remove(JNIEnv *env, jclass cls, jlong address) {
    (void) env;
    (void) cls;
    free((void *) (intptr_t) address);
}
