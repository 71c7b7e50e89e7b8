# shellcheck shell=bash
# Sourced helpers shared by scripts/windows-build, scripts/portable-build and scripts/distro-roots:
# a scratch apt configuration whose entries are derived at run time from this machine's own apt
# sources (so no archive host name is ever written into the tree), `apt-get source` through it,
# the Debian archive URI for debootstrap, and the install of missing packages that scripts/deps.sh
# and the two builds share. Needs: set -euo pipefail in the caller.

# Installs those of the given Debian packages that are not installed (nothing, not even apt-get
# update, when all are). nodejs/npm count as present when a working node/npm binary is on PATH
# (often installed outside dpkg). `make test` prepares the Windows and portable builds in the
# background at the same time, so a held dpkg lock is waited for (up to 10 minutes), not an
# error. Prints "PREFIX: installing ..." first; uses sudo when not root. Sets DEBIAN_INSTALLED to
# the number of packages it installed.
debian_install_missing() {
  local prefix=$1 p sudo=""
  shift
  local missing=()
  for p in "$@"; do
    case "$p" in
    nodejs) command -v node > /dev/null 2>&1 && continue ;;
    npm) command -v npm > /dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  DEBIAN_INSTALLED=${#missing[@]}
  [ "$DEBIAN_INSTALLED" -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "$prefix: installing ${missing[*]}"
  local lock=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq \
    --no-install-recommends "${missing[@]}"
}

# The first URI of this machine's apt sources that serves the host's own Debian release (the
# Suites/suite field names its codename), e.g. for `debootstrap SUITE DIR "$(debian_archive_uri)"`.
debian_archive_uri() {
  local codename f uri=""
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || { echo "debian-apt: no VERSION_CODENAME in /etc/os-release" >&2; return 1; }
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: one stanza per blank-line separated paragraph.
    uri=$(awk -v cn="$codename" 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; suites = ""; uris = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) types = $i
          else if ($i ~ /^Suites:/) suites = $i
          else if ($i ~ /^URIs:/) uris = $i
        }
        if (types ~ /[[:space:]]deb([[:space:]]|$)/ && (" " suites " ") ~ ("[[:space:]]" cn "[[:space:]]")) {
          sub(/^URIs:[[:space:]]*/, "", uris); split(uris, u, /[[:space:]]+/); print u[1]; exit
        }
      }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      uri=$(sed -E 's/\[[^]]*\]//' "$f" |
        awk -v cn="$codename" '$1 == "deb" && $3 == cn { print $2; exit }')
      [ -n "$uri" ] && break
    done
  fi
  [ -n "$uri" ] || { echo "debian-apt: no apt source for $codename found" >&2; return 1; }
  echo "${uri%/}"
}

# Writes a scratch apt configuration into DIR whose deb-src entries mirror this machine's deb
# entries (deb822 files: Types deb -> deb-src; one-line files: deb -> deb-src). With
# DEBIAN_SRC_SUITE set (e.g. trixie), one deb-src entry for that suite's main component from the
# archive this machine uses for its own release (debian_archive_uri) instead.
debian_apt_src_config() {
  local dir=$1 f uri
  rm -rf "$dir/parts"
  mkdir -p "$dir/parts" "$dir/lists/partial" "$dir/cache/archives/partial"
  : > "$dir/sources.list"
  if [ -n "${DEBIAN_SRC_SUITE:-}" ]; then
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg opt=""
    uri=$(debian_archive_uri) || return 1
    [ -f "$keyring" ] && opt="[signed-by=$keyring] "
    echo "deb-src $opt$uri $DEBIAN_SRC_SUITE main" > "$dir/sources.list"
    return 0
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >> "$dir/sources.list"
  fi
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -E 's/^Types:.*\<deb\>.*$/Types: deb-src/' "$f" > "$dir/parts/$(basename "$f")"
  done
  for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" > "$dir/parts/$(basename "$f")"
  done
}

# The -o options that point apt-get at the scratch configuration in DIR, one per line.
debian_apt_opts() {
  local dir=$1
  printf '%s\n' -o "Dir::Etc::SourceList=$dir/sources.list" \
    -o "Dir::Etc::SourceParts=$dir/parts" -o "Dir::State::Lists=$dir/lists" \
    -o "Dir::Cache=$dir/cache"
  [ "$(id -u)" -ne 0 ] || printf '%s\n' -o APT::Sandbox::User=root
}

# Fetches and extracts Debian source packages into SRC/<pkg>/ (skipping those already there),
# through the scratch configuration in APTDIR. Usage: debian_fetch_sources APTDIR SRC pkg...
debian_fetch_sources() {
  local aptdir=$1 src=$2 p need=0
  shift 2
  for p in "$@"; do
    [ -f "$src/$p/.extracted" ] || need=1
  done
  [ $need = 1 ] || return 0
  debian_apt_src_config "$aptdir"
  local aopts
  mapfile -t aopts < <(debian_apt_opts "$aptdir")
  echo "debian-apt: apt-get update (deb-src, scratch lists under $aptdir)"
  apt-get "${aopts[@]}" update -qq || echo "debian-apt: apt-get update reported errors; trying the sources anyway"
  for p in "$@"; do
    [ -f "$src/$p/.extracted" ] && continue
    rm -rf "${src:?}/$p"
    mkdir -p "$src/$p"
    echo "debian-apt: apt-get source $p"
    (cd "$src/$p" && apt-get "${aopts[@]}" source -qq "$p" > apt-source.log 2>&1) || {
      cat "$src/$p/apt-source.log" >&2
      return 1
    }
    touch "$src/$p/.extracted"
  done
}

# The extracted source tree of a source package fetched by debian_fetch_sources: SRC pkg.
debian_source_dir() {
  local d
  for d in "$1/$2"/*/; do
    [ -d "$d" ] && { echo "${d%/}"; return 0; }
  done
  echo "debian-apt: no source tree for $2 under $1" >&2
  return 1
}
