# Pure helpers about disks (builtins only).
let
  inherit (builtins) match;
in
{
  # The path of partition `n` of a whole-disk path, as udev and the kernel name it:
  #   /dev/disk/by-id/ata-X   -> /dev/disk/by-id/ata-X-part3
  #   /dev/disk/by-path/pci-X -> /dev/disk/by-path/pci-X-part3
  #   /dev/nvme0n1, /dev/mmcblk0, /dev/loop0 -> /dev/nvme0n1p3 ...  (name ends in a digit)
  #   /dev/sda, /dev/vda      -> /dev/sda3
  partitionPath = disk: n:
    let num = toString n; in
    if match "/dev/disk/by-[a-z]+/.*" disk != null then "${disk}-part${num}"
    else if match ".*[0-9]" disk != null then "${disk}p${num}"
    else "${disk}${num}";

  # Where partition 3 of the i-th disk (from 0) is mounted, as nixremote's disk layouts do it:
  # /boot, /boot-fallback, /boot-fallback2, ...
  bootMountPoint = i:
    if i == 0 then "/boot"
    else if i == 1 then "/boot-fallback"
    else "/boot-fallback${toString i}";
}
