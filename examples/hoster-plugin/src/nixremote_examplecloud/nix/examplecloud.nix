# Shipped with nixremote-examplecloud as package data. nixremote copies it into every
# ExampleCloud host's flake (plugins/examplecloud/examplecloud.nix) and imports it.
{ lib, ... }:
{
  # ExampleCloud's serial console is ttyS0; its virtio disks need the virtio modules early.
  boot.kernelParams = [ "console=ttyS0,115200" ];
  boot.initrd.availableKernelModules = [ "virtio_pci" "virtio_blk" ];
  networking.timeServers = lib.mkDefault [ "ntp.examplecloud.example" ];
}
