# Pure helpers about disks (builtins only).
let
  inherit (builtins) all elemAt head map match;

  # "/dev/disk/by-id/ata-X" -> "/dev/disk/by-id"; a kernel name ("/dev/vda") -> null
  linkDir = disk:
    let m = match "(/dev/disk/by-[a-z]+)/[^/]+" disk;
    in if m == null then null else elemAt m 0;
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

  # The directory `zpool import -d` scans at boot (boot.zfs.devNodes) for the pool on `disks`:
  #   all /dev/disk/by-id/... (or all by-path/...) -> that directory: the names the pool was
  #     created with, and stable ones;
  #   a kernel name (/dev/vda, /dev/sda, /dev/nvme0n1), or a mix -> /dev/disk/by-partuuid: the
  #     pool's partition (part 1 of nixremote's GPT layout) has a partition GUID whatever the
  #     disk, and udev's 60-persistent-storage rules (in both initrds) link it there. by-id would
  #     be empty for a virtio disk without a serial, and /dev names can change between boots.
  #   no disk at all -> /dev/disk/by-id (nixpkgs' default).
  devNodes = disks:
    let dirs = map linkDir disks;
    in
    if disks == [ ] then "/dev/disk/by-id"
    else if head dirs != null && all (d: d == head dirs) dirs then head dirs
    else "/dev/disk/by-partuuid";

  # Where partition 3 of the i-th disk (from 0) is mounted, as nixremote's disk layouts do it:
  # /boot, /boot-fallback, /boot-fallback2, ...
  bootMountPoint = i:
    if i == 0 then "/boot"
    else if i == 1 then "/boot-fallback"
    else "/boot-fallback${toString i}";
}
