/*
 * arch_x86_64_linux.c - the CPU services of os.h on x86-64: register spill,
 * vector registers, spin hint; and Linux's view of the CPU that
 * stw_linux.c needs to restart a system call its signal interrupted: the
 * signal context's registers, the syscall instruction (0f 05, the number
 * in rax, arguments in rdi, rsi, rdx, r10, r8, r9, the result in rax), the
 * system-call numbers, and the rt_sigreturn trampoline of a handler
 * installed with the system call itself.  See os.h for the contract.
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
	/* The System V ABI's callee-saved registers; the vector registers
	 * are all caller-saved.  sp is read after the stores, below this
	 * frame and so below the slots where the prologue saved any of them
	 * that this function uses itself. */
	uintptr_t regs[6], sp;
	__asm__ volatile("movq %%rbx, 0(%1)\n\t"
			 "movq %%rbp, 8(%1)\n\t"
			 "movq %%r12, 16(%1)\n\t"
			 "movq %%r13, 24(%1)\n\t"
			 "movq %%r14, 32(%1)\n\t"
			 "movq %%r15, 40(%1)\n\t"
			 "movq %%rsp, %0"
			 : "=r"(sp)
			 : "r"(regs)
			 : "memory");
	fn(sp, arg);
	__asm__ volatile("" ::"r"(regs) : "memory");
}

#define GH_XMM0_15 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", \
		   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

__attribute__((target("avx512f"))) static void clear_avx512(void)
{
	__asm__ volatile("vzeroall\n\t"
			 "vpxord %%zmm16, %%zmm16, %%zmm16\n\tvpxord %%zmm17, %%zmm17, %%zmm17\n\t"
			 "vpxord %%zmm18, %%zmm18, %%zmm18\n\tvpxord %%zmm19, %%zmm19, %%zmm19\n\t"
			 "vpxord %%zmm20, %%zmm20, %%zmm20\n\tvpxord %%zmm21, %%zmm21, %%zmm21\n\t"
			 "vpxord %%zmm22, %%zmm22, %%zmm22\n\tvpxord %%zmm23, %%zmm23, %%zmm23\n\t"
			 "vpxord %%zmm24, %%zmm24, %%zmm24\n\tvpxord %%zmm25, %%zmm25, %%zmm25\n\t"
			 "vpxord %%zmm26, %%zmm26, %%zmm26\n\tvpxord %%zmm27, %%zmm27, %%zmm27\n\t"
			 "vpxord %%zmm28, %%zmm28, %%zmm28\n\tvpxord %%zmm29, %%zmm29, %%zmm29\n\t"
			 "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31"
			 ::: GH_XMM0_15, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
			 "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
			 "xmm30", "xmm31");
}

__attribute__((target("avx"))) static void clear_avx(void)
{
	__asm__ volatile("vzeroall" ::: GH_XMM0_15);
}

static void clear_sse(void)
{
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\t"
			 "pxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
			 "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
			 "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
			 "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\t"
			 "pxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
			 "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\t"
			 "pxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15" ::: GH_XMM0_15);
}

void gh_os_clear_vector_registers(void)
{
	/* Legacy SSE instructions leave the upper halves of the AVX
	 * registers alone, and glibc's memcpy moves 32 or 64 bytes at a time
	 * through YMM/ZMM registers, 16-31 included on AVX-512 machines. */
	if (__builtin_cpu_supports("avx512f"))
		clear_avx512();
	else if (__builtin_cpu_supports("avx"))
		clear_avx();
	else
		clear_sse();
}

void gh_os_cpu_relax(void)
{
	__builtin_ia32_pause();
}

/* ---- The signal context and system calls ----
 *
 * Not instrumented: stw_linux.c's nudge calls these before it knows that
 * its signal did not interrupt ThreadSanitizer's runtime. */

GH_NOT_INSTRUMENTED uint64_t gh_arch_context_pc(const void *uc)
{
	return (uint64_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
}

GH_NOT_INSTRUMENTED uint64_t gh_arch_context_sp(const void *uc)
{
	return (uint64_t)((const ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
}

static const int arg_reg[6] = {REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9};

GH_NOT_INSTRUMENTED bool gh_arch_syscall_interrupted(const void *uc, gh_arch_syscall *c)
{
	const greg_t *g = ((const ucontext_t *)uc)->uc_mcontext.gregs;
	const uint8_t *pc = (const uint8_t *)g[REG_RIP];
	if (g[REG_RAX] != -EINTR || pc[-2] != 0x0f || pc[-1] != 0x05)
		return false;
	c->pc = (uint64_t)g[REG_RIP];
	c->sp = (uint64_t)g[REG_RSP];
	for (int i = 0; i < 6; i++)
		c->arg[i] = (uint64_t)g[arg_reg[i]];
	c->arg0_known = true;
	c->arg0_in_register = true;
	/* The result took the number's place in rax.  glibc's wrappers load
	 * it just before the syscall instruction ("mov $nr, %eax"): take it
	 * from there. */
	c->nr_known = pc[-7] == 0xb8;
	c->nr = -1;
	if (c->nr_known) {
		c->nr = (long)((uint32_t)pc[-6] | (uint32_t)pc[-5] << 8 | (uint32_t)pc[-4] << 16 |
			       (uint32_t)pc[-3] << 24);
	}
	return true;
}

void gh_arch_syscall_reissue(void *uc, long nr, const uint64_t arg[6])
{
	greg_t *g = ((ucontext_t *)uc)->uc_mcontext.gregs;
	for (int i = 0; i < 6; i++)
		g[arg_reg[i]] = (greg_t)arg[i];
	g[REG_RAX] = nr;
	g[REG_RIP] -= 2;
}

GH_NOT_INSTRUMENTED bool gh_arch_syscall_rewound(const void *uc, uint64_t after_pc, long nr)
{
	const greg_t *g = ((const ucontext_t *)uc)->uc_mcontext.gregs;
	return (uint64_t)g[REG_RIP] + 2 == after_pc && g[REG_RAX] == nr;
}

unsigned gh_arch_syscall_kind(long nr)
{
	switch (nr) {
	case SYS_nanosleep:
		return GH_SYSCALL_NANOSLEEP;
	case SYS_clock_nanosleep:
		return GH_SYSCALL_CLOCK_NANOSLEEP;
	case SYS_poll:
		return GH_SYSCALL_POLL;
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
		return GH_SYSCALL_EPOLL_WAIT;
	case SYS_select:
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

/* The return from a handler: the rt_sigreturn system call, which the
 * kernel needs to be told of when the handler is installed directly. */
__attribute__((visibility("hidden"))) void gh_sigreturn(void);
__asm__(".pushsection .text\n\t.p2align 4\n\t.type gh_sigreturn, @function\n"
	"gh_sigreturn:\n\tmovq $15, %rax\n\tsyscall\n\t.size gh_sigreturn, . - gh_sigreturn\n"
	".popsection");

void (*gh_arch_sigreturn(void))(void)
{
	return gh_sigreturn;
}
