# Which flake sources the installer image carries, as JSON (/etc/nixremote/flake-inputs.json in
# the image, `flakeInputs` of the kexec bundle's bundle.json):
#
#   { "<input>": { "path": "/nix/store/...-source",     the source, in the image's store
#                  "narHash": "sha256:...",             its NAR hash, as the store registered it
#                  "lastModified": 1763000000,          when the flake input had one
#                  "url": "github:NixOS/nixpkgs/..." }  the reference nixremote's flake.nix gives
#   }                                                   the input (none for nixremote itself)
#
# The NAR hash comes from closureInfo's `registration` (the build's own store database, the same
# data `nix-store --load-db` reads when the image boots), so it is the hash of exactly the path in
# the image. Its format is the store's ("sha256:" and base-32, or SRI in newer Nix):
# nixremote.core.flakelock turns any of them into the SRI form flake.lock wants.
{ lib, runCommand, closureInfo, jq, inputs }:
let
  declared = (import ../../flake.nix).inputs;
  esc = lib.escapeShellArg;
  entry = name: flake: {
    inherit name;
    path = flake.outPath;
    registration = "${closureInfo { rootPaths = [ flake.outPath ]; }}/registration";
    lastModified = flake.lastModified or null;
    url = declared.${name}.url or null;
  };
  entries = lib.mapAttrsToList entry inputs;
in
runCommand "nixremote-flake-inputs.json" { nativeBuildInputs = [ jq ]; } (''
  echo '{}' > inputs.json
'' + lib.concatMapStrings
  (e: ''
    # registration: the path, its NAR hash, its NAR size, ... (one record per path of the closure)
    hash=$(awk -v p=${esc e.path} 'found { print; exit } $0 == p { found = 1 }' ${esc e.registration})
    if [ -z "$hash" ]; then
      echo "flake-inputs: no NAR hash for ${e.path} in ${e.registration}" >&2
      exit 1
    fi
    jq --arg name ${esc e.name} --arg path ${esc e.path} --arg narHash "$hash" \
      --argjson lastModified ${esc (builtins.toJSON e.lastModified)} \
      --argjson url ${esc (builtins.toJSON e.url)} \
      '. + { ($name): ({ path: $path, narHash: $narHash }
        + (if $lastModified == null then { } else { lastModified: $lastModified } end)
        + (if $url == null then { } else { url: $url } end)) }' \
      inputs.json > next.json
    mv next.json inputs.json
  '')
  entries + ''
  jq -S . inputs.json > $out
'')
