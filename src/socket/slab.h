/*
 * Object caches for the socket layer (Linux's kmem_cache, which
 * sk_prot_alloc uses for every tcp_sock): sk_alloc and np_socket take their
 * objects from here instead of one malloc each. Why: each malloc'd object
 * costs an 8-byte header and rounding to 16, 16 bytes per connection end
 * for a sock and its socket, 32 MB at a million connections.
 */
#ifndef NP_SOCKET_SLAB_H
#define NP_SOCKET_SLAB_H

#include <stddef.h>

struct kmem_cache;

/*
 * The shared cache for objects of size bytes (created on first use; one per
 * size, for the whole process). NULL when no more caches can be made: the
 * caller then uses calloc/free for that size, always (the answer for a size
 * never changes afterwards).
 */
struct kmem_cache *kmem_cache_get(size_t size);
/* A zeroed object, 8-byte aligned, or NULL without memory. Thread-safe. */
void *kmem_cache_zalloc(struct kmem_cache *c);
/* Gives obj (from kmem_cache_zalloc of c) back for reuse. Thread-safe. */
void kmem_cache_free(struct kmem_cache *c, void *obj);

/*
 * Queue heads that come and go with each burst (a socket's receive and
 * write queues exist only while they hold data): each thread keeps the
 * last one freed per kind and hands it out again, so a request/response
 * exchange does not pay a malloc and a free per queue per message. The
 * object comes back uninitialised (NULL without memory).
 */
enum { KMEM_SPARE_RQ, KMEM_SPARE_WQ, KMEM_SPARE_KINDS };
void *kmem_spare_alloc(int kind, size_t size);
void kmem_spare_free(int kind, void *obj);

#endif
