# Shipped with the nixremote-ovhlike plugin: copied into the host flake as
# plugins/ovh-like/ovh-like.nix and imported as a NixOS module.
{ config, lib, inputs, ... }:
{
  options.ovhLike.rack = lib.mkOption {
    type = lib.types.str;
    default = "unknown";
    description = "The rack the server stands in (the plugin's setting ovh-like.rack).";
  };

  config = {
    environment.etc."ovh-like/rack".text = config.ovhLike.rack;
    # the host flake's inputs reach modules as `inputs` (the plugin adds `ovhtools`)
    environment.etc."ovh-like/inputs".text =
      lib.concatStringsSep " " (lib.attrNames (builtins.removeAttrs inputs [ "self" ]));
  };
}
