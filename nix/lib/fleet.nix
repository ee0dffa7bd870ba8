# Host discovery of a fleet flake: every directory `hosts/<name>/` holding a `runtime-info.json`
# is a host. Adding a host is adding a directory; flake.nix is never edited.
#
# Pure: only builtins, so it can be evaluated and tested without nixpkgs:
#   nix-instantiate --eval --strict --json -E '(import ./nix/lib/fleet.nix).summary /path/to/hosts'
#
# `discoverHosts hostsDir` returns { <name> = { name, dir, runtimeInfoFile, runtimeInfo,
# configuration }; } where `configuration` is the host's own module `hosts/<name>/configuration.nix`
# when present (else null). Directories starting with "." or "_" are skipped, so a
# `hosts/_template/` can live beside the hosts. In a git repository, a flake only sees tracked
# files: `git add hosts/<name>` after `nixremote fleet add`.
let
  inherit (builtins) attrNames filter fromJSON listToAttrs map pathExists readDir readFile substring;

  isHostDir = hostsDir: entries: name:
    entries.${name} == "directory"
    && substring 0 1 name != "."
    && substring 0 1 name != "_"
    && pathExists (hostsDir + "/${name}/runtime-info.json");

  hostNames = hostsDir:
    if !(pathExists hostsDir) then [ ]
    else
      let entries = readDir hostsDir;
      in filter (isHostDir hostsDir entries) (attrNames entries);

  host = hostsDir: name:
    let
      dir = hostsDir + "/${name}";
      runtimeInfoFile = dir + "/runtime-info.json";
      configurationFile = dir + "/configuration.nix";
    in
    {
      inherit name dir runtimeInfoFile;
      runtimeInfo = fromJSON (readFile runtimeInfoFile);
      configuration = if pathExists configurationFile then configurationFile else null;
    };

  discoverHosts = hostsDir:
    listToAttrs (map (name: { inherit name; value = host hostsDir name; }) (hostNames hostsDir));

  # What was found, as plain data (no store paths), for tests and `nix eval`.
  summary = hostsDir:
    builtins.mapAttrs
      (name: h: {
        inherit name;
        hostName = h.runtimeInfo.hostName;
        hostId = h.runtimeInfo.hostId;
        hasConfiguration = h.configuration != null;
      })
      (discoverHosts hostsDir);
in
{
  inherit discoverHosts hostNames summary;
}
