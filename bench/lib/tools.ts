/** The load generator and the baselines come from Debian. The bench only looks for them; installing is
 *  asked for with --install-tools, runs apt-get and writes nothing else on the system. */
export type Tool = 'wrk' | 'nginx' | 'etcd' | 'haproxy'

export const PACKAGES: Record<Tool, string> = { wrk: 'wrk', nginx: 'nginx', etcd: 'etcd-server', haproxy: 'haproxy' }

/** The tool's path, or null; nginx lives in /usr/sbin, which a non-login PATH may lack. */
export const which = (tool: Tool) => Bun.which(tool, { PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` })

/** apt-get install the packages of `tools` (root only); says so when it cannot. A service a package
 *  starts on install is left alone: the bench runs its own instances on free ports. */
export function install(tools: Tool[]) {
  const pkgs = tools.map((t) => PACKAGES[t])
  if (process.getuid?.() !== 0) return console.error(`bench: --install-tools runs apt-get and needs root; as root: apt-get install ${pkgs.join(' ')}`)
  const apt = (...args: string[]) => {
    console.error(`bench: apt-get ${args.join(' ')}`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    return Bun.which('apt-get') !== null && Bun.spawnSync(['apt-get', ...args], { env, stdin: 'ignore', stdout: 'inherit', stderr: 'inherit' }).exitCode === 0
  }
  const get = () => apt('install', '-y', '--no-install-recommends', ...pkgs)
  if (!get() && !(apt('update') && get())) console.error(`bench: apt-get install ${pkgs.join(' ')} failed`)
}
