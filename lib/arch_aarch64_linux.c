/*
 * arch_aarch64_linux.c - the CPU services of os.h on arm64 (AArch64): register
 * spill, vector registers, spin hint; and Linux's view of the CPU that
 * stw_linux.c needs to restart a system call its signal interrupted: the
 * signal context's registers, the system-call instruction (svc #0, the
 * number in x8, arguments in x0-x5, the result in x0) and the system-call
 * numbers (the generic table: no poll, select or epoll_wait, which the C
 * library makes with ppoll, pselect6 and epoll_pwait).  See os.h for the
 * contract.
 *
 * The first argument.  The kernel writes the result over x0, so a handler
 * that finds a call failed with EINTR no longer sees its first argument in
 * the context.  stw_linux.c takes it from what /proc showed of the call
 * before the signal was sent; for a call entered after that, this file
 * recovers it from the instructions that issued the call, in the one shape
 * glibc's wrappers have (objdump of Debian 12's clock_nanosleep, ppoll,
 * poll, pselect6, epoll_pwait):
 *
 *     mov  x0, x19         the first argument, from a register
 *     mov  x1, x20         other arguments: moves and loads into x1-x7
 *     mov  x8, #115        the number
 *     svc  #0
 *
 * and in no other: a handful of instructions back, within the page of the
 * svc, every one of a kind known not to change the source register.  Any
 * other code leaves the argument unknown, and the call is not restarted
 * (it fails with EINTR, as POSIX allows after any signal).
 */
#include "config.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "os.h"
#include "track.h"

/* ---- Registers ---- */

/* No AddressSanitizer: regs must be on the thread's own stack, not on its
 * fake stack of frames (detect_stack_use_after_return). */
GH_NO_SANITIZE_ADDRESS __attribute__((noinline)) void
gh_with_registers_spilled(void (*fn)(uintptr_t sp, void *arg), void *arg)
{
	/* The AAPCS64's callee-saved registers: x19-x28, the frame pointer
	 * x29, and the low 64 bits of v8-v15 (d8-d15), where a compiler may
	 * keep a pointer across calls.  sp is read after the stores, below
	 * this frame and so below the slots where the prologue saved any of
	 * them that this function uses itself. */
	uintptr_t regs[20], sp;
	__asm__ volatile("stp x19, x20, [%1, #0]\n\t"
			 "stp x21, x22, [%1, #16]\n\t"
			 "stp x23, x24, [%1, #32]\n\t"
			 "stp x25, x26, [%1, #48]\n\t"
			 "stp x27, x28, [%1, #64]\n\t"
			 "str x29, [%1, #80]\n\t"
			 "stp d8, d9, [%1, #96]\n\t"
			 "stp d10, d11, [%1, #112]\n\t"
			 "stp d12, d13, [%1, #128]\n\t"
			 "stp d14, d15, [%1, #144]\n\t"
			 "mov %0, sp"
			 : "=r"(sp)
			 : "r"(regs)
			 : "memory");
	fn(sp, arg);
	__asm__ volatile("" ::"r"(regs) : "memory");
}

void gh_os_clear_vector_registers(void)
{
	/* A write to a V register by an Advanced SIMD instruction also zeroes
	 * the bits above 128 of the SVE Z register it is part of.  v8-v15
	 * come back with their low halves, the caller's, which the compiler
	 * saves and restores around the clobber. */
	__asm__ volatile("movi v0.16b, #0\n\tmovi v1.16b, #0\n\tmovi v2.16b, #0\n\t"
			 "movi v3.16b, #0\n\tmovi v4.16b, #0\n\tmovi v5.16b, #0\n\t"
			 "movi v6.16b, #0\n\tmovi v7.16b, #0\n\tmovi v8.16b, #0\n\t"
			 "movi v9.16b, #0\n\tmovi v10.16b, #0\n\tmovi v11.16b, #0\n\t"
			 "movi v12.16b, #0\n\tmovi v13.16b, #0\n\tmovi v14.16b, #0\n\t"
			 "movi v15.16b, #0\n\tmovi v16.16b, #0\n\tmovi v17.16b, #0\n\t"
			 "movi v18.16b, #0\n\tmovi v19.16b, #0\n\tmovi v20.16b, #0\n\t"
			 "movi v21.16b, #0\n\tmovi v22.16b, #0\n\tmovi v23.16b, #0\n\t"
			 "movi v24.16b, #0\n\tmovi v25.16b, #0\n\tmovi v26.16b, #0\n\t"
			 "movi v27.16b, #0\n\tmovi v28.16b, #0\n\tmovi v29.16b, #0\n\t"
			 "movi v30.16b, #0\n\tmovi v31.16b, #0" ::
				 : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",
				   "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",
				   "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
				   "v29", "v30", "v31");
}

void gh_os_cpu_relax(void)
{
	/* Not yield, a no-op on most cores: isb waits for the pipeline to
	 * drain, a few tens of cycles, as pause does on x86-64. */
	__asm__ volatile("isb" ::: "memory");
}

/* ---- The signal context and system calls ----
 *
 * Not instrumented: stw_linux.c's nudge calls these before it knows that
 * its signal did not interrupt ThreadSanitizer's runtime. */

GH_NOT_INSTRUMENTED uint64_t gh_arch_context_pc(const void *uc)
{
	return ((const ucontext_t *)uc)->uc_mcontext.pc;
}

GH_NOT_INSTRUMENTED uint64_t gh_arch_context_sp(const void *uc)
{
	return ((const ucontext_t *)uc)->uc_mcontext.sp;
}

enum {
	SVC0 = 0xd4000001u, /* svc #0 */
	MAX_BACK = 12,      /* instructions looked at before the svc */
};

/* Instructions of the shape above, by their encodings (Arm ARM C6).
 * mov xd, xm / mov wd, wm: */
GH_NOT_INSTRUMENTED static bool is_mov_reg(uint32_t i, int *rd, int *rm)
{
	if ((i & 0x7fe0ffe0u) != 0x2a0003e0u)
		return false;
	*rd = (int)(i & 31);
	*rm = (int)((i >> 16) & 31);
	return true;
}

/* mov xd/wd, #imm16 */
GH_NOT_INSTRUMENTED static bool is_movz(uint32_t i, int *rd, uint32_t *imm)
{
	if ((i & 0x7fe00000u) != 0x52800000u)
		return false;
	*rd = (int)(i & 31);
	*imm = (i >> 5) & 0xffff;
	return true;
}

/* sxtw xd, wn */
GH_NOT_INSTRUMENTED static bool is_sxtw(uint32_t i, int *rd, int *rn)
{
	if ((i & 0xfffffc00u) != 0x93407c00u)
		return false;
	*rd = (int)(i & 31);
	*rn = (int)((i >> 5) & 31);
	return true;
}

/* A load of x registers that writes no other: ldp (signed offset) or ldr
 * (unsigned offset), 64-bit.  Sets the bits of the registers loaded. */
GH_NOT_INSTRUMENTED static bool is_load(uint32_t i, uint32_t *written)
{
	if ((i & 0xffc00000u) == 0xa9400000u) {
		*written |= 1u << (i & 31) | 1u << ((i >> 10) & 31);
		return true;
	}
	if ((i & 0xffc00000u) == 0xf9400000u) {
		*written |= 1u << (i & 31);
		return true;
	}
	return false;
}

/* The first argument of the call whose svc is at svc, as glibc's wrapper
 * set it (see the top of the file); false if the code has another shape. */
GH_NOT_INSTRUMENTED static bool first_argument(const uint32_t *svc, const uint64_t *regs,
						 uint64_t *arg0)
{
	int rd, rm;
	uint32_t imm;
	/* mov x8, #nr just before, nr what x8 holds */
	if (((uintptr_t)svc & 4095) < 4 || !is_movz(svc[-1], &rd, &imm) || rd != 8 ||
	    imm != regs[8])
		return false;
	uint32_t written = 1u << 8;
	for (int k = 2; k <= MAX_BACK; k++) {
		const uint32_t *p = svc - k;
		if (((uintptr_t)(p + 1) & 4095) == 0)
			return false; /* not read across a page boundary */
		uint32_t i = *p;
		if (is_mov_reg(i, &rd, &rm) && rd == 0) {
			if (rm == 0 || (rm != 31 && (written >> rm) & 1))
				return false;
			uint64_t v = rm == 31 ? 0 : regs[rm];
			*arg0 = i >> 31 ? v : (uint32_t)v;
			return true;
		}
		if (is_sxtw(i, &rd, &rm) && rd == 0) {
			if (rm == 0 || rm == 31 || (written >> rm) & 1)
				return false;
			*arg0 = (uint64_t)(int64_t)(int32_t)regs[rm];
			return true;
		}
		if (is_movz(i, &rd, &imm) && rd == 0) {
			*arg0 = imm;
			return true;
		}
		/* Anything else must load other argument registers only. */
		uint32_t w = 0;
		if (is_mov_reg(i, &rd, &rm) || is_movz(i, &rd, &imm) || is_sxtw(i, &rd, &rm))
			w = 1u << rd;
		else if (!is_load(i, &w))
			return false;
		if (w & ~0xfeu) /* only x1-x7 */
			return false;
		written |= w;
	}
	return false;
}

GH_NOT_INSTRUMENTED bool gh_arch_syscall_interrupted(const void *uc, gh_arch_syscall *c)
{
	const mcontext_t *m = &((const ucontext_t *)uc)->uc_mcontext;
	const uint32_t *pc = (const uint32_t *)m->pc;
	if ((int64_t)m->regs[0] != -EINTR || ((uintptr_t)pc & 4095) < 4 || pc[-1] != SVC0)
		return false;
	c->pc = m->pc;
	c->sp = m->sp;
	/* x8 still holds the number: the kernel wrote only x0. */
	c->nr_known = true;
	c->nr = (long)m->regs[8];
	for (int i = 1; i < 6; i++)
		c->arg[i] = m->regs[i];
	c->arg[0] = 0;
	c->arg0_in_register = false;
	c->arg0_known = first_argument(pc - 1, (const uint64_t *)m->regs, &c->arg[0]);
	return true;
}

void gh_arch_syscall_reissue(void *uc, long nr, const uint64_t arg[6])
{
	mcontext_t *m = &((ucontext_t *)uc)->uc_mcontext;
	for (int i = 0; i < 6; i++)
		m->regs[i] = arg[i];
	m->regs[8] = (uint64_t)nr;
	m->pc -= 4;
}

GH_NOT_INSTRUMENTED bool gh_arch_syscall_rewound(const void *uc, uint64_t after_pc, long nr)
{
	const mcontext_t *m = &((const ucontext_t *)uc)->uc_mcontext;
	return m->pc + 4 == after_pc && m->regs[8] == (uint64_t)nr;
}

unsigned gh_arch_syscall_kind(long nr)
{
	switch (nr) {
	case SYS_nanosleep:
		return GH_SYSCALL_NANOSLEEP;
	case SYS_clock_nanosleep:
		return GH_SYSCALL_CLOCK_NANOSLEEP;
	case SYS_epoll_pwait:
		return GH_SYSCALL_EPOLL_WAIT;
	case SYS_pselect6:
		return GH_SYSCALL_AS_IS | GH_SYSCALL_TSAN_HELD;
	case SYS_ppoll:
		return GH_SYSCALL_AS_IS;
	case SYS_read: case SYS_write: case SYS_readv: case SYS_writev:
	case SYS_pread64: case SYS_pwrite64: case SYS_futex: case SYS_recvfrom:
	case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg: case SYS_accept:
	case SYS_accept4: case SYS_connect: case SYS_wait4: case SYS_waitid:
	case SYS_flock:
		return GH_SYSCALL_TSAN_HELD;
	default:
		return GH_SYSCALL_OTHER;
	}
}

void (*gh_arch_sigreturn(void))(void)
{
	return NULL; /* the kernel's, in the vDSO */
}
