/*
 * Object caches (Linux's kmem_cache) for struct sock and struct socket:
 * sk_alloc / sock_put and np_socket / np_close take and give back objects
 * here. Objects of one size are cut from 64 KiB blocks with no per-object
 * header (a free object holds the free-list link); freed ones are reused
 * first. Blocks are kept for the life of the process, as a slab keeps its
 * pages until it is shrunk. Under AddressSanitizer every object is its own
 * calloc, so use-after-free and overflows are still caught.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socket/slab.h"

#define KMEM_BLOCK_SIZE (64 * 1024)   /* under glibc's mmap threshold: the heap serves it */
#define KMEM_MAX_CACHES 8             /* sizes in use: tcp_sock, udp_sock, socket (+ tests' bare sock) */

#if defined(__SANITIZE_ADDRESS__)
#define KMEM_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_PASSTHROUGH 1
#endif
#endif
#ifndef KMEM_PASSTHROUGH
#define KMEM_PASSTHROUGH 0
#endif

struct kmem_cache {
	pthread_mutex_t lock;
	size_t size;       /* object size, a multiple of 8 */
	void *free;        /* freed objects; each one's first word links the next */
	char *bump, *end;  /* the rest of the newest block */
	void *blocks;      /* every block; each one's first word links the next (kept reachable) */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kmem_cache caches[KMEM_MAX_CACHES];
static int ncaches;

struct kmem_cache *kmem_cache_get(size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if (size < sizeof(void *))
		size = sizeof(void *);
	struct kmem_cache *c = NULL;
	pthread_mutex_lock(&registry_lock);
	for (int i = 0; i < ncaches && !c; i++)
		if (caches[i].size == size)
			c = &caches[i];
	if (!c && ncaches < KMEM_MAX_CACHES && size <= KMEM_BLOCK_SIZE / 8) {
		c = &caches[ncaches];
		pthread_mutex_init(&c->lock, NULL);
		c->size = size;
		ncaches++;
	}
	pthread_mutex_unlock(&registry_lock);
	return c;
}

void *kmem_cache_zalloc(struct kmem_cache *c)
{
	if (KMEM_PASSTHROUGH)
		return calloc(1, c->size);
	void *obj = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->free) {
		obj = c->free;
		c->free = *(void **)obj;
	} else {
		if ((size_t)(c->end - c->bump) < c->size) {
			char *b = malloc(KMEM_BLOCK_SIZE);
			if (b) {
				*(void **)(void *)b = c->blocks;   /* the first 8 bytes link the blocks */
				c->blocks = b;
				c->bump = b + 8;
				c->end = b + KMEM_BLOCK_SIZE;
			}
		}
		if ((size_t)(c->end - c->bump) >= c->size) {
			obj = c->bump;
			c->bump += c->size;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (obj)
		memset(obj, 0, c->size);
	return obj;
}

/* Per-thread spares; a thread's are freed when it exits (the key's destructor). */
static __thread void *spare[KMEM_SPARE_KINDS];
static __thread int spare_registered;   /* this thread's destructor is set up */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_exit(void *arg)
{
	(void)arg;
	for (int i = 0; i < KMEM_SPARE_KINDS; i++) {
		free(spare[i]);
		spare[i] = NULL;
	}
	spare_registered = 0;   /* a later free in this thread registers again */
}

static void spare_init(void) { pthread_key_create(&spare_key, spare_exit); }

void *kmem_spare_alloc(int kind, size_t size)
{
	void *obj = spare[kind];
	if (obj) {
		spare[kind] = NULL;
		return obj;
	}
	return malloc(size);
}

void kmem_spare_free(int kind, void *obj)
{
	if (!obj)
		return;
	if (KMEM_PASSTHROUGH || spare[kind]) {
		free(obj);
		return;
	}
	if (!spare_registered) {
		/* Once per thread, not per free: the key's value only has to be non-NULL for the destructor. */
		pthread_once(&spare_once, spare_init);
		pthread_setspecific(spare_key, &spare_once);
		spare_registered = 1;
	}
	spare[kind] = obj;
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	if (!obj)
		return;
	if (KMEM_PASSTHROUGH) {
		free(obj);
		return;
	}
	pthread_mutex_lock(&c->lock);
	*(void **)obj = c->free;
	c->free = obj;
	pthread_mutex_unlock(&c->lock);
}
