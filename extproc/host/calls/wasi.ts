// The WASI calls Envoy's host provides: exactly the set proxy-wasm-cpp-host registers at the
// commit current Envoy pins (beb8a4ece, src/exports.cc `wasi_unstable_*`, listed by
// FOR_ALL_WASI_FUNCTIONS in include/proxy-wasm/exports.h), under both `wasi_snapshot_preview1`
// and `wasi_unstable`, with its return codes. Files, sockets and stdin do not exist for a
// proxy-wasm module: those calls answer ENOSYS / EBADF / ENOENT as cpp-host does. The calls cpp-host
// added later (94091cd: clock_res_get, fd_tell, path_*, sock_* ...) are not provided: a module
// that imports them would not link in an Envoy that pins beb8a4ece (ADDED_AFTER_PIN says why).
// See test/data/ENVOY-HOST-NOTES.md §12.

import { LogLevel } from "../abi.js";

/** What the WASI calls need of the VM: guest memory, the log and the clocks. */
export interface GuestAccess {
  read(ptr: number, size: number): Uint8Array | undefined;
  writeU32(ptr: number, v: number): boolean;
  writeU64(ptr: number, v: bigint): boolean;
  log(level: LogLevel, message: string): void;
  /** Wall-clock nanoseconds since the epoch. */
  realtime(): bigint;
  /** Monotonic nanoseconds. */
  monotonic(): bigint;
}

// __WASI_ERRNO_* values cpp-host returns.
const SUCCESS = 0;
const EBADF = 8;
const EFAULT = 21;
const EINVAL = 28;
const ENOENT = 44;
const ENOSYS = 52;
const ENOTSUP = 58;
/** PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES (include/proxy-wasm/limits.h). */
const RANDOM_GET_MAX = 64 * 1024;
/** fs_rights_base cpp-host reports for stdout/stderr: __WASI_RIGHTS_FD_WRITE. */
const RIGHTS_FD_WRITE = 64n;

/** WASI functions cpp-host registers only after Envoy's pin (94091cd, 2026-04-06). */
export const ADDED_AFTER_PIN = new Set([
  "fd_fdstat_set_rights", "clock_res_get", "fd_advise", "fd_allocate", "fd_datasync", "fd_filestat_set_size",
  "fd_filestat_set_times", "fd_pread", "fd_pwrite", "fd_readdir", "fd_renumber", "fd_sync", "fd_tell",
  "path_create_directory", "path_filestat_set_times", "path_link", "path_readlink", "path_remove_directory",
  "path_rename", "path_symlink", "path_unlink_file", "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
  "path_filestat_get", "fd_filestat_get",
]);

/**
 * Host calls a module may make while `_initialize` / `main` / `_start` run (cpp-host
 * WasmBase::startVm, setRestrictedCallback): any other call traps with "restricted_callback".
 */
export const ALLOWED_DURING_START = new Set([
  "env.emscripten_notify_memory_growth", "env.proxy_log",
  ...["fd_write", "args_sizes_get", "args_get", "environ_sizes_get", "environ_get", "fd_prestat_get",
    "fd_prestat_dir_name", "clock_time_get", "random_get", "fd_fdstat_get", "fd_fdstat_set_flags"]
    .flatMap((f) => [`wasi_unstable.${f}`, `wasi_snapshot_preview1.${f}`]),
]);

type WasiFn = (...a: never[]) => number | void;

export function wasiFunctions(g: GuestAccess): Record<string, WasiFn> {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  /** writevImpl: stdout → info, stderr → error, one trailing newline dropped. */
  const writev = (fd: number, iovs: number, count: number): { errno: number; written: number } => {
    if (fd !== 1 && fd !== 2) return { errno: EBADF, written: 0 };
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count >>> 0; i++) {
      const iov = g.read(iovs + i * 8, 8);
      if (!iov) return { errno: EFAULT, written: 0 };
      const [p, n] = [view(iov).getUint32(0, true), view(iov).getUint32(4, true)];
      if (n === 0) continue;
      const buf = g.read(p, n);
      if (!buf) return { errno: EFAULT, written: 0 };
      parts.push(buf);
    }
    const text = Buffer.concat(parts);
    if (text.length) g.log(fd === 1 ? LogLevel.Info : LogLevel.Error, text.toString("utf8").replace(/\n$/, ""));
    return { errno: SUCCESS, written: text.length };
  };
  /** cpp-host's Context::error, which Envoy logs at trace. */
  const hostError = (what: string) => g.log(LogLevel.Trace, `wasi_unstable ${what}`);
  return {
    fd_write(fd: number, iovs: number, count: number, retWritten: number): number {
      const { errno, written } = writev(fd, iovs, count);
      if (errno !== SUCCESS) return errno;
      return g.writeU32(retWritten, written) ? SUCCESS : EFAULT;
    },
    fd_read(): number { return ENOSYS; },
    fd_seek(): number { hostError("fd_seek"); return SUCCESS; },
    fd_close(): number { hostError("fd_close"); return SUCCESS; },
    fd_fdstat_get(fd: number, statOut: number): number {
      if (fd !== 1 && fd !== 2) return EBADF;
      // 24 bytes: filetype/flags 0, fs_rights_base FD_WRITE, fs_rights_inheriting 0. cpp-host
      // ignores a failed write here and still answers success.
      g.writeU64(statOut, 0n) && g.writeU64(statOut + 8, RIGHTS_FD_WRITE) && g.writeU64(statOut + 16, 0n);
      return SUCCESS;
    },
    fd_fdstat_set_flags(): number { return ENOSYS; },
    // vm_config.environment_variables is not modelled: the environment is empty.
    environ_get(): number { return SUCCESS; },
    environ_sizes_get(retCount: number, retSize: number): number {
      return g.writeU32(retCount, 0) && g.writeU32(retSize, 0) ? SUCCESS : EFAULT;
    },
    args_get(): number { return SUCCESS; },
    args_sizes_get(retCount: number, retSize: number): number {
      return g.writeU32(retCount, 0) && g.writeU32(retSize, 0) ? SUCCESS : EFAULT;
    },
    clock_time_get(id: number, _precision: bigint, retTime: number): number {
      if (id !== 0 && id !== 1) return ENOTSUP; // process/thread CPU clocks are not supported
      return g.writeU64(retTime, id === 0 ? g.realtime() : g.monotonic()) ? SUCCESS : EFAULT;
    },
    random_get(ptr: number, size: number): number {
      if (size >>> 0 > RANDOM_GET_MAX) return EINVAL;
      if (size === 0) return SUCCESS;
      const b = g.read(ptr, size >>> 0);
      if (!b) return EFAULT;
      crypto.getRandomValues(b);
      return SUCCESS;
    },
    sched_yield(): number { return SUCCESS; },
    poll_oneoff(): number { return ENOSYS; },
    proc_exit(): void { hostError("proc_exit"); }, // returns to the module: it does not trap
    path_open(): number { return ENOENT; },
    fd_prestat_get(): number { return EBADF; },
    fd_prestat_dir_name(): number { return ENOSYS; },
  };
}
