/* seccomp_run ALLOWED_SYSCALLS_FILE MDWE -- COMMAND [ARGS...]
 *
 * Runs COMMAND under the sandbox systemd would build for edged.service, so the tests can check
 * that the real daemon (LiteRT + XNNPACK, pyzmq, numpy) works inside it without systemd as
 * PID 1:
 *   - a seccomp allow-list of the syscalls named in the file (SystemCallFilter=, resolved by
 *     the test from `systemd-analyze syscall-filter`), everything else fails with EPERM
 *     (SystemCallErrorNumber=EPERM);
 *   - socket() only for AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (RestrictAddressFamilies=),
 *     other families fail with EAFNOSUPPORT;
 *   - no new privileges (NoNewPrivileges=yes);
 *   - MDWE=1: MemoryDenyWriteExecute=yes as systemd 252 builds it, a second seccomp filter:
 *     mmap() writable and executable at once, mprotect()/pkey_mprotect() with PROT_EXEC and
 *     shmat() with SHM_EXEC fail with EPERM; plus the kernel's own PR_SET_MDWE where the
 *     kernel has it (6.3+; newer systemd uses it), whichever is stricter wins.
 * Exit 125 when the sandbox cannot be set up, else COMMAND's own status (via exec). */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

static int allow_listed(scmp_filter_ctx ctx, const char *path) {
    FILE *f = fopen(path, "r");
    char name[128];
    if (!f) {
        perror(path);
        return -1;
    }
    while (fscanf(f, "%127s", name) == 1) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR || strcmp(name, "socket") == 0)
            continue; /* unknown on this architecture, or handled below */
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0) {
            fprintf(stderr, "seccomp_run: cannot allow %s\n", name);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int restrict_families(scmp_filter_ctx ctx) {
    static const int allowed[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed[i])) < 0)
            return -1;
    for (int family = 0; family < AF_MAX; family++) {
        int ok = 0;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            ok |= family == allowed[i];
        if (!ok && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)family)) < 0)
            return -1;
    }
    return 0;
}

static int deny_write_execute(void) {
    const scmp_datum_t wx = PROT_WRITE | PROT_EXEC;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int r = -1;
    if (!ctx)
        return -1;
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx)) >= 0 &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) >= 0 &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pkey_mprotect), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) >= 0 &&
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(shmat), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)) >= 0 &&
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) >= 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}

int main(int argc, char **argv) {
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: seccomp_run SYSCALLS_FILE MDWE(0|1) -- COMMAND [ARGS...]\n");
        return 125;
    }
    if (atoi(argv[2])) {
        if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) < 0 && errno != EINVAL) {
            perror("seccomp_run: prctl(PR_SET_MDWE)");
            return 125;
        }
        if (deny_write_execute() < 0) {
            fprintf(stderr, "seccomp_run: cannot load the write-execute filter\n");
            return 125;
        }
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx || allow_listed(ctx, argv[1]) < 0 || restrict_families(ctx) < 0 ||
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0 || seccomp_load(ctx) < 0) {
        fprintf(stderr, "seccomp_run: cannot load the filter\n");
        return 125;
    }
    seccomp_release(ctx);
    execvp(argv[4], argv + 4);
    perror("seccomp_run: exec");
    return 125;
}
