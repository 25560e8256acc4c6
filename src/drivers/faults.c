/*
 * Fault injection (the netem this machine's kernel lacks): loss,
 * duplication, single-bit corruption, reordering, delay with jitter and a
 * rate limit, applied by the core on either side of a device.
 *   rx: driver poll -> napi_gro_receive -> netif_receive_skb -> faults_apply
 *       -> (now, or later from faults_timer) __netif_receive_skb_core
 *   tx: dev_hard_start_xmit -> taps -> faults_apply
 *       -> (now, or later from faults_timer) ndo_start_xmit
 *
 * Decisions follow Linux's netem_enqueue, in its order: duplicate?, lose?,
 * corrupt?, then queue limit, reorder? and the departure time. Each fault
 * set has its own generator seeded from seed= (1 if not given), so the same
 * spec and the same traffic give the same faults on every run; a device's
 * transmit-side set derives its stream from the seed differently than the
 * receive side, so one spec on both directions does not mirror its decisions.
 *
 * Timing. With delay, jitter or rate set ("timed" mode) a packet waits in a
 * per-set queue kept in departure order; one np_timer on the device's stack
 * is armed for the head. Departure = now + delay +- uniform jitter, but
 * never before the previous packet's departure: jitter alone never
 * reorders (netem behaves so when a rate is set). With rate, a packet
 * leaves at max(that time, last departure) + len * 8 / rate, its
 * serialisation time, as netem's rate does; at most limit= packets wait,
 * more are dropped with FAULT_INJECTED_LOSS (counted as rate_dropped).
 *
 * Reordering. In timed mode it is netem's: a packet chosen by reorder=
 * skips the queue and goes at once, overtaking those still waiting.
 * Without delay, jitter or rate a chosen packet is held back until the
 * next packet has passed, then follows it (so 1,2 leaves as 2,1); a held
 * packet waits at most FAULTS_HOLD_NS when no next packet comes.
 *
 * A waiting packet's departure time, deliver function and device live in
 * skb->cb, which the driver layer owns here as netem owns qdisc_skb_cb.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/netdevice.h"
#include "core/stack.h"
#include "core/timer.h"
#include "drivers/faults.h"
#include "trace/trace.h"

/* Longest wait of a held-back packet when no next packet comes to overtake it. */
#define FAULTS_HOLD_NS (10 * NSEC_PER_MSEC)
#define FAULTS_DEFAULT_LIMIT 1000
#define FAULTS_DEFAULT_SEED 1
/* Mixed into the seed of a device's transmit-side set ("TX"). */
#define FAULTS_TX_STREAM 0x5458545854585458ull
#define PPM_100 1000000u            /* 100% in parts per million */
#define FAULTS_MAX_TIME_NS (3600 * NSEC_PER_SEC)
#define FAULTS_MAX_RATE_BPS 1000000000000ull

typedef void (*faults_deliver_fn)(struct net_device *dev, struct sk_buff *skb);

struct np_faults {
	/* settings, as parsed */
	uint32_t loss, dup, corrupt, reorder;   /* parts per million */
	uint64_t delay_ns, jitter_ns;
	uint64_t rate_bps;                      /* 0: no limit */
	uint32_t limit;
	uint64_t seed;

	/* state */
	uint64_t rng[4];                        /* xoshiro256** */
	struct np_fault_stats stats;
	struct np_stack *stack;                 /* where the timer lives: the device's */
	struct np_timer timer;
	struct sk_buff_head tfifo;              /* timed mode: waiting packets, by departure */
	uint64_t last_departure;
	struct sk_buff *held;                   /* untimed reorder: the packet held back */
	uint64_t held_deadline;
};

/* What a waiting packet carries in skb->cb. */
struct faults_cb {
	uint64_t time_to_send;
	faults_deliver_fn deliver;
	struct net_device *dev;
};
_Static_assert(sizeof(struct faults_cb) <= sizeof(((struct sk_buff *)0)->cb), "faults_cb fits in skb->cb");

static inline struct faults_cb *FAULTS_CB(struct sk_buff *skb) { return (struct faults_cb *)(void *)skb->cb; }

/* ---- generator -------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t faults_rand(struct np_faults *f)
{
	uint64_t *s = f->rng;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void faults_seed(struct np_faults *f, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		f->rng[i] = splitmix64(&seed);
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift; the bias is below 2^-32). */
static uint32_t faults_rand_below(struct np_faults *f, uint32_t n)
{
	return (uint32_t)(((faults_rand(f) >> 32) * (uint64_t)n) >> 32);
}

/* True with probability ppm / 1e6. Draws only when the fault is on, so one fault's settings do not shift another's. */
static int faults_chance(struct np_faults *f, uint32_t ppm)
{
	if (ppm == 0)
		return 0;
	return faults_rand_below(f, PPM_100) < ppm;
}

/* ---- parse and format --------------------------------------------------- */

enum fkind { FK_PERCENT, FK_TIME, FK_RATE, FK_LIMIT, FK_SEED };

struct fkey {
	const char *name;
	enum fkind kind;
	unsigned bit;
};

static const struct fkey fkeys[] = {
	{ "loss", FK_PERCENT, 1 << 0 },   { "delay", FK_TIME, 1 << 1 },   { "jitter", FK_TIME, 1 << 2 },
	{ "reorder", FK_PERCENT, 1 << 3 }, { "dup", FK_PERCENT, 1 << 4 },  { "corrupt", FK_PERCENT, 1 << 5 },
	{ "rate", FK_RATE, 1 << 6 },       { "limit", FK_LIMIT, 1 << 7 },  { "seed", FK_SEED, 1 << 8 },
};

/*
 * Reads digits[.digits] from [p, end) as a fixed-point value scaled by
 * 10^frac (at most frac decimals). Returns the first byte after the number,
 * or NULL on no digits, too many decimals or overflow.
 */
static const char *parse_fixed(const char *p, const char *end, int frac, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0, decimals = 0, seen_dot = 0;
	for (; p < end; p++) {
		if (*p == '.' && !seen_dot && digits > 0 && frac > 0) {
			seen_dot = 1;
			continue;
		}
		if (*p < '0' || *p > '9')
			break;
		if (seen_dot && ++decimals > frac)
			return NULL;
		uint64_t d = (uint64_t)(*p - '0');
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return NULL;
		v = v * 10 + d;
		digits++;
	}
	if (digits == 0 || (seen_dot && decimals == 0))
		return NULL;
	for (; decimals < frac; decimals++) {
		if (v > UINT64_MAX / 10)
			return NULL;
		v *= 10;
	}
	*out = v;
	return p;
}

static int unit_is(const char *p, const char *end, const char *unit)
{
	size_t n = strlen(unit);
	return (size_t)(end - p) == n && strncasecmp(p, unit, n) == 0;
}

/* Value * unit / 1000 from a 3-decimal fixed-point value; -1 if it is not whole or overflows. */
static int scale_milli(uint64_t v, uint64_t unit, uint64_t *out)
{
	if (v != 0 && unit > UINT64_MAX / v)
		return -1;
	if ((v * unit) % 1000)
		return -1;
	*out = v * unit / 1000;
	return 0;
}

/* Parses one value of kind from [p, end) into f. 0 or -EINVAL. */
static int parse_value(struct np_faults *f, const struct fkey *k, const char *p, const char *end)
{
	uint64_t v, x;
	const char *u;
	switch (k->kind) {
	case FK_PERCENT:
		/* "20%", "0.1%", "12.3456%": parts per million, never above 100%. */
		u = parse_fixed(p, end, 4, &v);
		if (!u || !unit_is(u, end, "%") || v > PPM_100)
			return -EINVAL;
		if (!strcmp(k->name, "loss"))
			f->loss = (uint32_t)v;
		else if (!strcmp(k->name, "reorder"))
			f->reorder = (uint32_t)v;
		else if (!strcmp(k->name, "dup"))
			f->dup = (uint32_t)v;
		else
			f->corrupt = (uint32_t)v;
		return 0;
	case FK_TIME: {
		static const struct { const char *u; uint64_t ns; } tu[] = {
			{ "us", NSEC_PER_USEC }, { "ms", NSEC_PER_MSEC }, { "s", NSEC_PER_SEC },
		};
		u = parse_fixed(p, end, 3, &v);
		if (!u)
			return -EINVAL;
		for (size_t i = 0; i < sizeof(tu) / sizeof(tu[0]); i++) {
			if (!unit_is(u, end, tu[i].u))
				continue;
			if (scale_milli(v, tu[i].ns, &x) < 0 || x > FAULTS_MAX_TIME_NS)
				return -EINVAL;
			if (!strcmp(k->name, "delay"))
				f->delay_ns = x;
			else
				f->jitter_ns = x;
			return 0;
		}
		return -EINVAL;
	}
	case FK_RATE: {
		static const struct { const char *u; uint64_t bps; } ru[] = {
			{ "bit", 1 }, { "kbit", 1000 }, { "mbit", 1000000 }, { "gbit", 1000000000 },
		};
		u = parse_fixed(p, end, 3, &v);
		if (!u)
			return -EINVAL;
		for (size_t i = 0; i < sizeof(ru) / sizeof(ru[0]); i++) {
			if (!unit_is(u, end, ru[i].u))
				continue;
			if (scale_milli(v, ru[i].bps, &x) < 0 || x > FAULTS_MAX_RATE_BPS)
				return -EINVAL;
			f->rate_bps = x;
			return 0;
		}
		return -EINVAL;
	}
	case FK_LIMIT:
		u = parse_fixed(p, end, 0, &v);
		if (!u || u != end || v == 0 || v > UINT32_MAX)
			return -EINVAL;
		f->limit = (uint32_t)v;
		return 0;
	case FK_SEED:
		u = parse_fixed(p, end, 0, &v);
		if (!u || u != end)
			return -EINVAL;
		f->seed = v;
		return 0;
	}
	return -EINVAL;
}

static void faults_timer(struct np_timer *t);

struct np_faults *faults_parse(const char *spec, const char **errpos, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	*err = 0;
	if (!spec || !*spec || !strcmp(spec, "off"))
		return NULL;
	struct np_faults *f = calloc(1, sizeof(*f));
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->limit = FAULTS_DEFAULT_LIMIT;
	f->seed = FAULTS_DEFAULT_SEED;
	unsigned seen = 0;
	const char *p = spec;
	for (;;) {
		const char *item = p, *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *eq = memchr(item, '=', (size_t)(end - item));
		const struct fkey *k = NULL;
		for (size_t i = 0; eq && i < sizeof(fkeys) / sizeof(fkeys[0]); i++)
			if ((size_t)(eq - item) == strlen(fkeys[i].name) && !strncmp(item, fkeys[i].name, (size_t)(eq - item)))
				k = &fkeys[i];
		/* Unknown key, a key given twice, or a bad value: the whole spec is refused. */
		if (!k || (seen & k->bit) || parse_value(f, k, eq + 1, end) < 0) {
			if (errpos)
				*errpos = item;
			*err = -EINVAL;
			free(f);
			return NULL;
		}
		seen |= k->bit;
		if (!*end)
			break;
		p = end + 1;
	}
	faults_seed(f, f->seed);
	skb_queue_head_init(&f->tfifo);
	timer_setup(&f->timer, faults_timer);
	return f;
}

/* Appends to out like snprintf, never past cap. */
static void appendf(char *out, size_t cap, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void appendf(char *out, size_t cap, size_t *pos, const char *fmt, ...)
{
	if (*pos >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *pos, cap - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos = *pos + (size_t)n < cap ? *pos + (size_t)n : cap;
}

/* Formats v / 10^frac with trailing zero decimals removed. */
static void append_fixed(char *out, size_t cap, size_t *pos, uint64_t v, int frac)
{
	uint64_t div = 1;
	for (int i = 0; i < frac; i++)
		div *= 10;
	uint64_t ip = v / div, fp = v % div;
	if (!fp) {
		appendf(out, cap, pos, "%llu", (unsigned long long)ip);
		return;
	}
	while (fp % 10 == 0) {
		fp /= 10;
		frac--;
	}
	appendf(out, cap, pos, "%llu.%0*llu", (unsigned long long)ip, frac, (unsigned long long)fp);
}

/* Prints x (base units) in the largest unit where it is >= 1 and exact with <= 3 decimals. */
static void append_unit(char *out, size_t cap, size_t *pos, uint64_t x, const uint64_t *mult,
			const char *const *names, int n)
{
	int i = n - 1;
	while (i > 0 && (x < mult[i] || (x * 1000) % mult[i]))
		i--;
	append_fixed(out, cap, pos, x * 1000 / mult[i], 3);
	appendf(out, cap, pos, "%s", names[i]);
}

static void append_pct(char *out, size_t cap, size_t *pos, const char *name, uint32_t ppm)
{
	if (!ppm)
		return;
	appendf(out, cap, pos, "%s=", name);
	append_fixed(out, cap, pos, ppm, 4);
	appendf(out, cap, pos, "%%,");
}

static void append_time(char *out, size_t cap, size_t *pos, const char *name, uint64_t ns)
{
	static const uint64_t tmul[] = { NSEC_PER_USEC, NSEC_PER_MSEC, NSEC_PER_SEC };
	static const char *const tname[] = { "us", "ms", "s" };
	if (!ns)
		return;
	appendf(out, cap, pos, "%s=", name);
	append_unit(out, cap, pos, ns, tmul, tname, 3);
	appendf(out, cap, pos, ",");
}

void faults_format(const struct np_faults *f, char *out, size_t cap)
{
	static const uint64_t rmul[] = { 1, 1000, 1000000, 1000000000 };
	static const char *const rname[] = { "bit", "kbit", "mbit", "gbit" };
	size_t pos = 0;
	if (!cap)
		return;
	out[0] = 0;
	if (!f) {
		appendf(out, cap, &pos, "off");
		return;
	}
	/* The order of the spec's documentation; zero settings are left out, the seed never. */
	append_pct(out, cap, &pos, "loss", f->loss);
	append_time(out, cap, &pos, "delay", f->delay_ns);
	append_time(out, cap, &pos, "jitter", f->jitter_ns);
	append_pct(out, cap, &pos, "reorder", f->reorder);
	append_pct(out, cap, &pos, "dup", f->dup);
	append_pct(out, cap, &pos, "corrupt", f->corrupt);
	if (f->rate_bps) {
		appendf(out, cap, &pos, "rate=");
		append_unit(out, cap, &pos, f->rate_bps, rmul, rname, 4);
		appendf(out, cap, &pos, ",");
	}
	if (f->limit != FAULTS_DEFAULT_LIMIT)
		appendf(out, cap, &pos, "limit=%u,", f->limit);
	appendf(out, cap, &pos, "seed=%llu", (unsigned long long)f->seed);
}

void faults_get_stats(const struct np_faults *f, struct np_fault_stats *st)
{
	if (f)
		*st = f->stats;
	else
		memset(st, 0, sizeof(*st));
}

/* ---- the queue ---------------------------------------------------------- */

static int faults_timed(const struct np_faults *f) { return f->delay_ns || f->jitter_ns || f->rate_bps; }

/* Arms the one timer for the earliest of the queue head and the held packet's deadline. */
static void faults_arm(struct np_faults *f)
{
	uint64_t next = UINT64_MAX;
	struct sk_buff *head = skb_peek(&f->tfifo);
	if (head)
		next = FAULTS_CB(head)->time_to_send;
	if (f->held && f->held_deadline < next)
		next = f->held_deadline;
	if (next == UINT64_MAX) {
		if (timer_pending(&f->timer))
			del_timer(f->stack, &f->timer);
	} else if (!timer_pending(&f->timer) || f->timer.expires != next) {
		/* mod_timer fails only without memory; the next packet or poll re-arms. */
		(void)mod_timer(f->stack, &f->timer, next);
	}
}

/* Sends the held-back packet now (it has been overtaken, or waited long enough). */
static void faults_release_held(struct np_faults *f)
{
	struct sk_buff *skb = f->held;
	if (!skb)
		return;
	f->held = NULL;
	struct faults_cb *cb = FAULTS_CB(skb);
	trace_stage_detail(skb, "netem_dequeue", "reordered");
	cb->deliver(cb->dev, skb);
}

/* Timer: delivers every packet whose time has come, in departure order. */
static void faults_timer(struct np_timer *t)
{
	struct np_faults *f = container_of(t, struct np_faults, timer);
	uint64_t now = np_stack_now(f->stack);
	if (f->held && f->held_deadline <= now)
		faults_release_held(f);
	struct sk_buff *skb;
	/* Peek again each time: a deliver function may queue more. */
	while ((skb = skb_peek(&f->tfifo)) != NULL && FAULTS_CB(skb)->time_to_send <= now) {
		skb_unlink(skb, &f->tfifo);
		struct faults_cb *cb = FAULTS_CB(skb);
		trace_stage_detail(skb, "netem_dequeue", "delayed");
		cb->deliver(cb->dev, skb);
	}
	faults_arm(f);
}

/* Consumes skb: reorder, delay and rate (netem's tfifo_enqueue), or straight on. */
static void faults_enqueue(struct np_faults *f, struct net_device *dev, struct sk_buff *skb,
			   faults_deliver_fn deliver)
{
	struct faults_cb *cb = FAULTS_CB(skb);
	uint64_t now = np_stack_now(f->stack);
	cb->deliver = deliver;
	cb->dev = dev;

	if (!faults_timed(f)) {
		if (!f->held && faults_chance(f, f->reorder)) {
			/* Held back: it follows the next packet (or leaves at the deadline). */
			f->stats.reordered++;
			f->held = skb;
			f->held_deadline = now + FAULTS_HOLD_NS;
			trace_stage_detail(skb, "netem_enqueue", "held");
			faults_arm(f);
			return;
		}
		deliver(dev, skb);
		if (f->held) {
			faults_release_held(f);
			faults_arm(f);
		}
		return;
	}

	if (f->tfifo.qlen >= f->limit) {
		f->stats.rate_dropped++;
		kfree_skb_reason(skb, NP_DROP_FAULT_INJECTED_LOSS);
		return;
	}
	if (faults_chance(f, f->reorder)) {
		/* netem: a reordered packet goes at once, ahead of those still waiting. */
		f->stats.reordered++;
		trace_stage_detail(skb, "netem_enqueue", "reordered");
		deliver(dev, skb);
		return;
	}
	uint64_t delay = f->delay_ns;
	if (f->jitter_ns) {
		/* Uniform in [delay - jitter, delay + jitter], clamped at zero, as netem without a table. */
		uint64_t span = 2 * f->jitter_ns + 1;
		uint64_t r = span > UINT32_MAX ? faults_rand(f) % span : faults_rand_below(f, (uint32_t)span);
		delay = delay + r >= f->jitter_ns ? delay + r - f->jitter_ns : 0;
	}
	uint64_t t = now + delay;
	/* FIFO: no packet leaves before the one queued ahead of it. */
	if (t < f->last_departure)
		t = f->last_departure;
	if (f->rate_bps)
		t += ((uint64_t)skb->len * 8 * NSEC_PER_SEC + f->rate_bps - 1) / f->rate_bps;
	f->last_departure = t;
	cb->time_to_send = t;
	f->stats.delayed++;
	trace_stage_detail(skb, "netem_enqueue", "delayed");
	skb_queue_tail(&f->tfifo, skb);
	if (skb_peek(&f->tfifo) == skb)
		faults_arm(f);
}

/* Consumes skb: netem_enqueue's decisions for one packet (a duplicate comes back with may_dup 0). */
static void faults_one(struct np_faults *f, struct net_device *dev, struct sk_buff *skb,
		       faults_deliver_fn deliver, int may_dup)
{
	int count = 1;
	struct sk_buff *dup = NULL;
	if (may_dup && faults_chance(f, f->dup))
		count++;
	if (faults_chance(f, f->loss))
		count--;
	if (count == 0) {
		f->stats.lost++;
		kfree_skb_reason(skb, NP_DROP_FAULT_INJECTED_LOSS);
		return;
	}
	if (count > 1) {
		/* Cloned before corruption, so the copy is the frame as it was sent. */
		dup = skb_clone(skb);
		if (dup)
			f->stats.duplicated++;
	}
	if (skb->len && faults_chance(f, f->corrupt)) {
		/* Flip one bit; first make the bytes ours, since a clone or another holder may share them. */
		if (skb->users > 1) {
			struct sk_buff *n = skb_copy(skb);
			if (!n) {
				kfree_skb_reason(skb, NP_DROP_NOMEM);
				skb = NULL;
			} else {
				n->tapped = skb->tapped;
				consume_skb(skb);
				skb = n;
			}
		} else if (skb_unshare_data(skb) < 0) {
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			skb = NULL;
		}
		/*
		 * An offloaded checksum is finished first and a vouched-for one is
		 * no longer trusted, so the receiver's verify sees the flipped bit.
		 */
		if (skb && skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb) < 0) {
			kfree_skb_reason(skb, NP_DROP_NOMEM);
			skb = NULL;
		}
		if (skb) {
			if (skb->ip_summed == CHECKSUM_UNNECESSARY)
				skb->ip_summed = CHECKSUM_NONE;
			uint32_t bit = faults_rand_below(f, skb->len * 8);
			skb->data[bit >> 3] ^= (uint8_t)(1u << (bit & 7));
			f->stats.corrupted++;
			trace_stage_detail(skb, "netem_enqueue", "corrupted");
		}
	}
	if (skb)
		faults_enqueue(f, dev, skb, deliver);
	if (dup)
		faults_one(f, dev, dup, deliver, 0);
}

void faults_apply(struct np_faults *f, struct net_device *dev, struct sk_buff *skb,
		  void (*deliver)(struct net_device *dev, struct sk_buff *skb))
{
	if (!f) {
		deliver(dev, skb);
		return;
	}
	if (!f->stack) {
		f->stack = dev->stack;
		/*
		 * np_dev_set_faults parses one spec for both directions: give the
		 * transmit side its own stream from the same seed, so the two
		 * directions do not repeat each other's decisions.
		 */
		if (dev->faults_tx == f)
			faults_seed(f, f->seed ^ FAULTS_TX_STREAM);
	}
	f->stats.seen++;
	trace_stage(skb, "netem_enqueue");
	faults_one(f, dev, skb, deliver, 1);
}

void faults_flush(struct np_faults *f)
{
	if (!f)
		return;
	if (f->held) {
		kfree_skb_reason(f->held, NP_DROP_STACK_SHUTDOWN);
		f->held = NULL;
	}
	skb_queue_purge_reason(&f->tfifo, NP_DROP_STACK_SHUTDOWN);
	if (f->stack && timer_pending(&f->timer))
		del_timer(f->stack, &f->timer);
}

void faults_free(struct np_faults *f)
{
	if (!f)
		return;
	faults_flush(f);
	free(f);
}
