#!/usr/bin/env python3
"""Adds lock entries for optional platform packages that this machine's npm registry does not serve.

npm here cannot resolve other platforms' binaries (@biomejs/cli-*, @napi-rs/canvas-*), so `npm install`
leaves them out of package-lock.json and `npm ci` then refuses the lock as out of sync. The entries added
carry only version, os, cpu and libc: npm ci skips them on this platform without downloading anything.

Usage, after any `npm install` that rewrote the lock:
    npm ci 2>&1 | sed -n 's/.*Missing: \\(.*\\)@ from lock file/\\1/p' | xargs python3 .ci/complete-lockfile.py package-lock.json
"""
import json
import re
import sys

path, missing = sys.argv[1], sys.argv[2:]
lock = json.load(open(path))
packages = lock['packages']
wanted = {}
for entry in packages.values():
    wanted.update(entry.get('optionalDependencies') or {})
for name in missing:
    key = 'node_modules/' + name
    if key in packages:
        continue
    entry = {'version': wanted[name], 'optional': True}
    os_ = [o for o in ['android', 'darwin', 'linux', 'win32', 'freebsd'] if o in name]
    cpu = [c for c in ['arm64', 'x64', 'riscv64', 'arm', 'ia32'] if re.search(r'-' + c + r'(-|$)', name)]
    if os_:
        entry['os'] = os_
    if cpu:
        entry['cpu'] = cpu
    if 'musl' in name:
        entry['libc'] = ['musl']
    elif 'gnu' in name and 'linux' in name:
        entry['libc'] = ['glibc']
    packages[key] = entry
lock['packages'] = dict(sorted(packages.items(), key=lambda kv: (kv[0] != '', kv[0])))
with open(path, 'w') as f:
    json.dump(lock, f, indent=2)
    f.write('\n')
