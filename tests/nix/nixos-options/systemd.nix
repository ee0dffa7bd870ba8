# nixos/modules/system/boot/systemd.nix with nixos/lib/systemd-unit-options.nix and
# nixos/lib/systemd-lib.nix: systemd.services (the unit options the project uses, their types and
# the [Service] checks).
{ lib, ... }:
let
  units = import ../nixos-eval/systemd-units.nix { inherit lib; };
in
{
  options.systemd.services = lib.mkOption {
    default = { };
    type = lib.types.attrsOf (lib.types.submodule [ units.stage2ServiceOptions ]);
    description = "Definition of systemd service units.";
  };
}
