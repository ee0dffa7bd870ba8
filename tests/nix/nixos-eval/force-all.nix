# Every value of a configuration, forced, as building the system forces them; true when none
# fails. Left out: what a build never forces whole: the elaborated platform (`nixpkgs`), the module
# system's internals (`_module`) and whole flakes held by `raw` options (nixremote.flake.source
# and .inputs, nixremote.installer.flakeInputs, nix.registry.<name>.flake), whose attributes
# include all of nixpkgs' lib; what NixOS takes from them (outPath, narHash) is forced elsewhere.
lib: config:
let
  skipped = [
    [ "nixpkgs" ]
    [ "_module" ]
    [ "nixremote" "flake" "source" ]
    [ "nixremote" "flake" "inputs" ]
    [ "nixremote" "installer" "flakeInputs" ]
  ];
  isSkipped = path:
    builtins.elem path skipped
    || (builtins.length path == 4 && lib.take 2 path == [ "nix" "registry" ] && lib.last path == "flake");
  walk = path: value:
    if isSkipped path then true
    else if builtins.isAttrs value && !(lib.isDerivation value)
    then builtins.all (name: walk (path ++ [ name ]) value.${name}) (builtins.attrNames value)
    else builtins.deepSeq value true;
in
walk [ ] config
