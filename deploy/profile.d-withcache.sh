# /etc/profile.d/withcache.sh: every login shell on this box asks the lab's cache-host first.
# Pair it with the shim symlinked as curl and wget in /usr/local/bin (see the README, "Fleets").
# Unset or empty WITHCACHE_SERVER turns the shims into the plain tools, with no network at all.
export WITHCACHE_SERVER="http://cache.lab.example:3000"
