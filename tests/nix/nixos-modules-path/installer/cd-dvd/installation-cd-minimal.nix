# nixos/modules/installer/cd-dvd/installation-cd-minimal.nix
{ ... }:
{
  imports = [ ./installation-cd-base.nix ];

  isoImage.edition = "minimal";

  fonts.fontconfig.enable = false;
}
