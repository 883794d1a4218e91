/*
 * cross_aarch64.h — the declarations core/src takes from the C library,
 * OpenSSL and zlib, for the arm64 syntax check (ctest core.cross_aarch64,
 * bench/CMakeLists.txt).
 *
 * There is no arm64 machine or arm64 sysroot here, so that check compiles
 * every core/src/*.c with `clang --target=aarch64-linux-gnu -fsyntax-only
 * -nostdinc`: clang's own freestanding headers (stddef.h, stdint.h, and
 * emmintrin.h, which refuses a non-x86 target) plus this file standing in
 * for <string.h>, <stdlib.h>, <stdio.h>, <sys/mman.h>, <zlib.h> and the
 * five OpenSSL headers core/src includes. Each declaration follows the
 * function's documented signature (C11, POSIX, OpenSSL 3 manual pages,
 * zlib.h's documentation); no code is copied.
 *
 * What the check covers: every core source parses and type-checks for an
 * LP64 little-endian arm64 target with -Wall -Wextra -Werror, the SIMD
 * paths are compiled out there (an x86 intrinsic outside its guard fails),
 * and the scalar twins compile. core.cross_i686 uses the same declarations
 * for 32-bit x86 with SSE2 (ILP32): there the SSE2 paths compile, and an
 * x86-64-only intrinsic in them fails. What neither covers: the targets'
 * real glibc and OpenSSL headers, linking, or running.
 */
#ifndef KEYGATE_BENCH_CROSS_AARCH64_H
#define KEYGATE_BENCH_CROSS_AARCH64_H

#include <stddef.h>
#include <stdint.h>

/* <string.h> */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *s, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);

/* <stdlib.h> */
void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *aligned_alloc(size_t align, size_t size);
void free(void *p);
_Noreturn void abort(void);

/* <stdio.h> */
int snprintf(char *restrict out, size_t cap, const char *restrict fmt, ...);

/* <sys/mman.h> (Linux: MADV_HUGEPAGE is 14) */
#define MADV_HUGEPAGE 14
int madvise(void *addr, size_t len, int advice);

/* <zlib.h> */
typedef unsigned char Bytef;
typedef unsigned int uInt;
typedef unsigned long uLong;
uLong crc32(uLong crc, const Bytef *buf, uInt len);

/* <openssl/crypto.h>, <openssl/rand.h> */
void *CRYPTO_zalloc(size_t num, const char *file, int line);
void CRYPTO_clear_free(void *ptr, size_t num, const char *file, int line);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
void OPENSSL_cleanse(void *ptr, size_t len);
#define OPENSSL_zalloc(num) CRYPTO_zalloc(num, __FILE__, __LINE__)
#define OPENSSL_clear_free(addr, num)                                          \
  CRYPTO_clear_free(addr, num, __FILE__, __LINE__)
int RAND_bytes(unsigned char *buf, int num);

/* <openssl/sha.h> */
#define SHA_LONG unsigned int
#define SHA_LBLOCK 16
#define SHA256_DIGEST_LENGTH 32
typedef struct SHA256state_st {
  SHA_LONG h[8];
  SHA_LONG Nl, Nh;
  SHA_LONG data[SHA_LBLOCK];
  unsigned int num, md_len;
} SHA256_CTX;
int SHA256_Init(SHA256_CTX *c);
int SHA256_Update(SHA256_CTX *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, SHA256_CTX *c);
void SHA256_Transform(SHA256_CTX *c, const unsigned char *data);

/* <openssl/evp.h>, <openssl/hmac.h> */
#define EVP_MAX_MD_SIZE 64
typedef struct evp_md_st EVP_MD;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;
typedef struct engine_st ENGINE;
EVP_MD *EVP_MD_fetch(OSSL_LIB_CTX *ctx, const char *algorithm,
                     const char *properties);
void EVP_MD_free(EVP_MD *md);
int EVP_Digest(const void *data, size_t count, unsigned char *md,
               unsigned int *size, const EVP_MD *type, ENGINE *impl);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *data, size_t data_len,
                    unsigned char *md, unsigned int *md_len);

/* The digest's provider path (issue 15): EVP_MD_CTX, EVP_MAC, OSSL_PARAM
 * (openssl/evp.h, openssl/params.h, openssl/core_names.h) and the
 * per-thread contexts' key (pthread.h). */
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_mac_st EVP_MAC;
typedef struct evp_mac_ctx_st EVP_MAC_CTX;
typedef struct ossl_param_st {
  const char *key;
  unsigned int data_type;
  void *data;
  size_t data_size;
  size_t return_size;
} OSSL_PARAM;
#define OSSL_MAC_PARAM_DIGEST "digest"
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_DigestInit_ex2(EVP_MD_CTX *ctx, const EVP_MD *type,
                       const OSSL_PARAM params[]);
int EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
EVP_MAC *EVP_MAC_fetch(OSSL_LIB_CTX *libctx, const char *algorithm,
                       const char *properties);
void EVP_MAC_free(EVP_MAC *mac);
EVP_MAC_CTX *EVP_MAC_CTX_new(EVP_MAC *mac);
void EVP_MAC_CTX_free(EVP_MAC_CTX *ctx);
EVP_MAC_CTX *EVP_MAC_CTX_dup(const EVP_MAC_CTX *src);
int EVP_MAC_init(EVP_MAC_CTX *ctx, const unsigned char *key, size_t keylen,
                 const OSSL_PARAM params[]);
int EVP_MAC_update(EVP_MAC_CTX *ctx, const unsigned char *data, size_t datalen);
int EVP_MAC_final(EVP_MAC_CTX *ctx, unsigned char *out, size_t *outl,
                  size_t outsize);
OSSL_PARAM OSSL_PARAM_construct_utf8_string(const char *key, char *buf,
                                            size_t bsize);
OSSL_PARAM OSSL_PARAM_construct_end(void);
void CRYPTO_free(void *ptr, const char *file, int line);
#define OPENSSL_free(addr) CRYPTO_free(addr, __FILE__, __LINE__)
/* <assert.h> (core/src/defensive.h) */
#define assert(x) ((void)(x))
char *getenv(const char *name);
int strcmp(const char *s1, const char *s2);
typedef unsigned int pthread_key_t;
typedef int pthread_once_t;
#define PTHREAD_ONCE_INIT 0
int pthread_once(pthread_once_t *once_control, void (*init_routine)(void));
int pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
void *pthread_getspecific(pthread_key_t key);
int pthread_setspecific(pthread_key_t key, const void *value);

#endif /* KEYGATE_BENCH_CROSS_AARCH64_H */
