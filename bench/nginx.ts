/** nginx for figure 4, one worker process each, in the run's folder: the upstream serving a small file
 *  (no access log), or the baseline proxy_pass to it over kept-alive connections (default access log). */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../test/kit'
import { ready, run, workdir } from './lib/dcm'
import { childPids } from './lib/proc'

export const UPSTREAM_BODY = 'hello from the upstream\n'

export async function startNginx(nginx: string, name: 'upstream' | 'proxy', upstreamPort?: number) {
  const dir = join(workdir(), 'nginx')
  mkdirSync(join(dir, 'www'), { recursive: true })
  writeFileSync(join(dir, 'www', 'hello.txt'), UPSTREAM_BODY)
  const port = await freePort()
  const server = upstreamPort
    ? `access_log ${dir}/proxy-access.log; upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; }
       server { listen 127.0.0.1:${port}; location = /hit { proxy_pass http://up/hello.txt; proxy_http_version 1.1; proxy_set_header Connection ""; } }`
    : `access_log off; server { listen 127.0.0.1:${port}; root ${dir}/www; }`
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${name}-${t};`).join(' ')
  const conf = join(dir, `${name}.conf`)
  writeFileSync(conf, `daemon off; worker_processes 1; user root; pid ${dir}/${name}.pid; error_log ${dir}/${name}-error.log warn;
events { worker_connections 8192; }
http { default_type text/plain; keepalive_requests 1000000; keepalive_timeout 90s; ${temp}
  ${server}
}
`)
  const p = run(`nginx-${name}`, [nginx, '-p', dir, '-e', join(dir, `${name}-error.log`), '-c', conf])
  const url = `http://127.0.0.1:${port}`
  await ready(p, `nginx ${name}`, async () => (await fetch(`${url}${upstreamPort ? '/hit' : '/hello.txt'}`)).ok)
  // worker_processes 1: the master's one child does the work, and is the process whose CPU counts.
  return Object.assign(p, { url, port, workerPid: await ready(p, `nginx ${name} worker`, () => childPids(p.proc.pid)[0]) })
}
